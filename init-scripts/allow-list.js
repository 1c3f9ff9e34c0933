// Initialization script of the allow-list example: runs once per isolate, before any function.
const allowList = require('../functions/lib/allow-list');

allowList.configure({ members: process.env.MEMBERS, passcode: process.env.PASSCODE });
console.log(`allow-list ready with ${allowList.size} members`);
