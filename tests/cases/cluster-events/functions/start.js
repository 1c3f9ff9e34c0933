async function handleEvent(event, context) {}
