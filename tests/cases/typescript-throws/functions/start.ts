interface Rules {
  banned: string[];
}

const rules: Rules = { banned: ["mallory"] };

async function handleEvent(event: UserAttemptedStartSessionEvent, context: Context): Promise<void> {
  if (rules.banned.includes(event.username as string)) {
    throw new Error(`${event.username} is banned`);
  }
}
