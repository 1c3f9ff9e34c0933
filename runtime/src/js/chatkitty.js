// `context.ChatKitty`: the Platform API client a chat function is handed, shaped like
// `chatkitty-platform-sdk` (axios-style `{ data, status }` answers; rejections carry
// `response.status`, 404 for a missing user, 409 for a duplicate) so functions written for
// ChatKitty run unchanged. Each call is a native op over sled, not HTTP.
import { core, primordials } from "ext:core/mod.js";
import { track } from "ext:chatfn/pending.js";
import { usersCall } from "ext:chatfn/tape.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
const { Error, ObjectFreeze, Proxy, PromiseReject, String } = primordials;
const {
  op_users_check_exists, op_users_create, op_users_retrieve, op_users_update, op_users_delete, op_users_list,
  op_users_set_secret, op_users_retrieve_secret, op_users_remove_secret,
} = core.ops;

const STATUS_TEXT = { 200: "OK", 201: "Created", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error" };

function axiosError(reply, method, url) {
  const err = new Error(`Request failed with status code ${reply.status}`);
  err.name = "AxiosError";
  err.code = reply.status >= 500 ? "ERR_BAD_RESPONSE" : "ERR_BAD_REQUEST";
  err.isAxiosError = true;
  err.status = reply.status;
  err.config = { method, url };
  err.response = {
    status: reply.status,
    statusText: STATUS_TEXT[reply.status] ?? "",
    data: { error: reply.error, message: reply.message },
    headers: {},
    config: err.config,
  };
  err.toJSON = () => ({ name: err.name, message: err.message, code: err.code, status: err.status });
  return err;
}

async function call(method, url, start) {
  const reply = await track(`context.ChatKitty.Users (${method} ${url})`, () => usersCall(method, url, start));
  if (!reply.ok) throw axiosError(reply, method, url);
  return { data: reply.data, status: reply.status, statusText: STATUS_TEXT[reply.status] ?? "", headers: {}, config: { method, url } };
}

function invalid(message) {
  return PromiseReject(axiosError({ status: 400, error: "BadRequest", message }, "", ""));
}

function needsId(id, fn) {
  if (id === undefined || id === null) return invalid("a user id is required");
  return fn(String(id));
}

const Users = ObjectFreeze({
  checkUserExists: (name) => call("head", `/v1/users?name=${name}`, () => op_users_check_exists(String(name ?? ""))),
  createUser: (resource) => call("post", "/v1/users", () => op_users_create(resource ?? {})),
  retrieveUser: (id) => needsId(id, (id) => call("get", `/v1/users/${id}`, () => op_users_retrieve(id))),
  updateUser: (id, patch) => needsId(id, (id) => call("patch", `/v1/users/${id}`, () => op_users_update(id, patch ?? {}))),
  deleteUser: (id) => needsId(id, (id) => call("delete", `/v1/users/${id}`, () => op_users_delete(id))),
  listUsers: (page, size, sort, name) =>
    call("get", "/v1/users", () => op_users_list(page ?? 0, size ?? 25, name == null ? null : String(name))),
  setUserSecret: (id, name, secretResource) =>
    needsId(id, (id) => call("put", `/v1/users/${id}/secrets/${name}`, () => op_users_set_secret(id, String(name ?? ""), secretResource?.secret ?? null))),
  retrieveUserSecret: (id, name) =>
    needsId(id, (id) => call("get", `/v1/users/${id}/secrets/${name}`, () => op_users_retrieve_secret(id, String(name ?? "")))),
  removeUserSecret: (id, name) =>
    needsId(id, (id) => call("delete", `/v1/users/${id}/secrets/${name}`, () => op_users_remove_secret(id, String(name ?? "")))),
});

/** A namespace of the ChatKitty SDK that chatfn does not host: any call throws a clear error. */
function unavailable(namespace) {
  return new Proxy({}, {
    get(_target, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      return () => {
        throw notAvailable(`context.ChatKitty.${namespace}.${method}()`, ": only context.ChatKitty.Users is hosted");
      };
    },
  });
}

const ChatKitty = ObjectFreeze({
  Users,
  Application: unavailable("Application"),
  Channels: unavailable("Channels"),
  Functions: unavailable("Functions"),
  FunctionVersions: unavailable("FunctionVersions"),
  Imports: unavailable("Imports"),
  Jobs: unavailable("Jobs"),
  Messages: unavailable("Messages"),
  Runtime: unavailable("Runtime"),
  Threads: unavailable("Threads"),
});

/** The `context` argument of `handleEvent(event, context)`. */
export function createContext() {
  return ObjectFreeze({ ChatKitty });
}
