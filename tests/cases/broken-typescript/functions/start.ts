async function handleEvent(event: UserAttemptedStartSessionEvent, context: Context) {
  const name: string = event.username;
  let x: number = ;
}
