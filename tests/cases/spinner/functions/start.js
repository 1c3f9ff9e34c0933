async function handleEvent() {
  for (;;) {}
}
