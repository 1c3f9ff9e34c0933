async function handleEvent() {}
