// The cap on async operations (Users calls, fetches) one isolate may have in flight; past it
// a call is refused at once instead of queueing without bound. Functions reach ops only
// through chatfn's own wrappers, which all go through `track`.
import { primordials } from "ext:core/mod.js";
import { nodeError } from "ext:chatfn/internal/errors.js";
const { Error } = primordials;

let pending = 0;
let max = Infinity;

export function setMaxPendingOps(limit) {
  max = limit;
}

export async function track(what, start) {
  if (pending >= max) {
    throw nodeError(Error, "ERR_CHATFN_TOO_MANY_PENDING_OPS", `${what} was refused: this app already has ${max} operations in flight ([limits] pending_ops)`);
  }
  pending++;
  try {
    return await start();
  } finally {
    pending--;
  }
}
