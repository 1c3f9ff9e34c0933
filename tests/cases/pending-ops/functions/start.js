// "flood" starts ten Users calls at once; with pending_ops = 4 six are refused.
async function handleEvent(event, context) {
  const Users = context.ChatKitty.Users;
  if (event.username !== "flood") {
    await Users.checkUserExists(event.username).catch(() => {});
    return;
  }
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => Users.checkUserExists(`u${i}`)));
  const refused = results.filter((r) => r.status === "rejected" && r.reason.code === "ERR_CHATFN_TOO_MANY_PENDING_OPS").length;
  const ran = results.filter((r) => r.status === "rejected" && r.reason.response?.status === 404).length;
  throw new Error(`${ran} ran, ${refused} refused`);
}
