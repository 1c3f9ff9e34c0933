// Module state, fresh each time the file is loaded.
module.exports = { value: "initial" };
