module.exports = "héllo 👋";
