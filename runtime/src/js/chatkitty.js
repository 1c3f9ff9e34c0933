// `context.ChatKitty`: the Platform API client a chat function is handed, shaped like
// `chatkitty-platform-sdk` (axios-style `{ data, status }` answers; rejections carry
// `response.status`, 404 for a missing user, 409 for a duplicate) so functions written for
// ChatKitty run unchanged. `Users` is chatfn's own: each call a native op over sled, not HTTP.
// `Channels` and `Messages` are the chat backend's: forwarded over HTTP, in ChatKitty's
// Platform API shape with its client credentials, to the backend the app declares in
// `[chat_backend]` (through the network policy and the tape, as `fetch` is).
import { core, primordials } from "ext:core/mod.js";
import { track } from "ext:chatfn/pending.js";
import { usersCall } from "ext:chatfn/tape.js";
import { notAvailable } from "ext:chatfn/internal/errors.js";
import { fetch } from "ext:chatfn/web/fetch.js";
import { URLSearchParams } from "ext:chatfn/web/url.js";
import { btoa } from "ext:chatfn/web/encoding.js";
const { ArrayIsArray, DateNow, Error, JSONParse, JSONStringify, ObjectFreeze, ObjectFromEntries, Proxy, PromisePrototypeThen, PromiseReject, String, encodeURIComponent } = primordials;
const {
  op_users_check_exists, op_users_create, op_users_retrieve, op_users_update, op_users_delete, op_users_list,
  op_users_set_secret, op_users_retrieve_secret, op_users_remove_secret, op_chat_backend,
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

/** Runs a Users op (`start`, which answers the reply as JSON text: `ops/users.rs`). */
async function call(method, url, start) {
  const reply = await track(`context.ChatKitty.Users (${method} ${url})`, () => usersCall(method, url, () => PromisePrototypeThen(start(), JSONParse)));
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
  checkUserExists: (name) =>
    call("head", `/v1/users?name=${name}`, () => op_users_check_exists(String(name ?? ""))),
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
        throw notAvailable(`context.ChatKitty.${namespace}.${method}()`, ": chatfn hosts Users, and forwards Channels and Messages to the chat backend");
      };
    },
  });
}

// ---- the chat backend's namespaces --------------------------------------------------------

// Method -> [HTTP method, path, path parameters, query parameters, takes a body], as
// chatkitty-platform-sdk's ChannelsApi and MessagesApi call ChatKitty's Platform API. Arguments
// come in that order: path parameters, then the body or the query parameters.
const PAGED = ["page", "size", "sort"];
const MESSAGE_QUERY = ["size", "start", "next", "relation", "username", "query"];
const CHANNELS = {
  addChannelMember: ["POST", "/v1/channels/{id}/members", ["id"], [], true],
  addChannelModerator: ["POST", "/v1/channels/{id}/moderators", ["id"], [], true],
  createChannel: ["POST", "/v1/channels", [], [], true],
  deleteChannel: ["DELETE", "/v1/channels/{id}", ["id"], [], false],
  listChannelInvites: ["GET", "/v1/channels/{id}/invites", ["id"], PAGED, false],
  listChannelMembers: ["GET", "/v1/channels/{id}/members", ["id"], PAGED, false],
  listChannelMemberships: ["GET", "/v1/channels/{id}/memberships", ["id"], PAGED, false],
  listChannelMessages: ["GET", "/v1/channels/{id}/messages", ["id"], MESSAGE_QUERY, false],
  listChannelModerators: ["GET", "/v1/channels/{id}/moderators", ["id"], PAGED, false],
  listChannelParticipants: ["GET", "/v1/channels/{id}/participants", ["id"], PAGED, false],
  listChannels: ["GET", "/v1/channels", [], [...PAGED, "type", "members", "startTime", "endTime", "properties"], false],
  removeChannelMember: ["DELETE", "/v1/channels/{id}/members/{user_id}", ["id", "user_id"], [], false],
  removeChannelModerator: ["DELETE", "/v1/channels/{id}/moderators/{user_id}", ["id", "user_id"], [], false],
  retrieveChannel: ["GET", "/v1/channels/{id}", ["id"], [], false],
  sendChannelEvent: ["POST", "/v1/channels/{id}/events", ["id"], [], true],
  sendChannelInvite: ["POST", "/v1/channels/{id}/invites", ["id"], [], true],
  sendChannelKeystrokes: ["POST", "/v1/channels/{id}/keystrokes", ["id"], [], true],
  sendChannelMessage: ["POST", "/v1/channels/{id}/messages", ["id"], [], true],
  updateChannel: ["PATCH", "/v1/channels/{id}", ["id"], [], true],
};
const MESSAGES = {
  deleteMessage: ["DELETE", "/v1/messages/{id}", ["id"], [], false],
  deleteMessages: ["DELETE", "/v1/messages", [], [], false],
  listMessageReadReceipts: ["GET", "/v1/messages/{id}/read-receipts", ["id"], PAGED, false],
  listMessages: ["GET", "/v1/messages", [], MESSAGE_QUERY, false],
  retrieveMessage: ["GET", "/v1/messages/{id}", ["id"], [], false],
  updateMessage: ["PATCH", "/v1/messages/{id}", ["id"], [], true],
};

/** The isolate's bearer token for the chat backend, until shortly before it expires. */
let backendToken = null;

async function accessToken(backend) {
  if (backendToken && backendToken.clientId === backend.clientId && backendToken.expiresAt > DateNow() + 10_000) {
    return backendToken.value;
  }
  const response = await fetch(backend.tokenUrl, {
    method: "POST",
    headers: {
      authorization: `Basic ${btoa(`${backend.clientId}:${backend.clientSecret}`)}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "grant_type=client_credentials",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || typeof body.access_token !== "string") {
    throw axiosError(
      { status: response.status, error: "Unauthorized", message: `the chat backend refused chatfn's client credentials (${response.status})` },
      "post",
      backend.tokenUrl,
    );
  }
  backendToken = { clientId: backend.clientId, value: body.access_token, expiresAt: DateNow() + (body.expires_in ?? 3600) * 1000 };
  return backendToken.value;
}

async function forward(namespace, method, [verb, path, pathParams, queryParams, hasBody], args) {
  const backend = op_chat_backend();
  if (!backend) {
    throw notAvailable(`context.ChatKitty.${namespace}.${method}()`, ": the app declares no chat backend ([chat_backend] in chatfn.toml)");
  }
  let next = 0;
  let url = path;
  for (const name of pathParams) {
    const value = args[next++];
    if (value === undefined || value === null) throw axiosError({ status: 400, error: "BadRequest", message: `${name} is required` }, verb.toLowerCase(), path);
    url = url.replace(`{${name}}`, encodeURIComponent(String(value)));
  }
  const body = hasBody ? args[next++] : undefined;
  const query = new URLSearchParams();
  for (const name of queryParams) {
    const value = args[next++];
    if (value === undefined || value === null) continue;
    const values = ArrayIsArray(value) || value instanceof Set ? [...value] : [value];
    for (const item of values) query.append(name, item instanceof Date ? item.toISOString() : String(item));
  }
  const full = `${backend.baseUrl}${url}${query.size ? `?${query}` : ""}`;
  const headers = { authorization: `Bearer ${await accessToken(backend)}`, accept: "application/json" };
  if (body !== undefined) headers["content-type"] = verb === "PATCH" ? "application/json+merge-patch" : "application/json";
  const response = await fetch(full, { method: verb, headers, body: body === undefined ? undefined : JSONStringify(body) });
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSONParse(text) : "";
  } catch {
    // Not JSON: the text as it is.
  }
  if (!response.ok) {
    throw axiosError({ status: response.status, error: data?.error, message: data?.message ?? text }, verb.toLowerCase(), full);
  }
  const config = { method: verb.toLowerCase(), url: full };
  return { data, status: response.status, statusText: response.statusText, headers: ObjectFromEntries(response.headers), config };
}

/** A namespace forwarded to the chat backend: its known methods, and a clear error for others. */
function forwarded(namespace, methods) {
  return new Proxy({}, {
    get(_target, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      const route = methods[method];
      if (!route) {
        return () => {
          throw notAvailable(`context.ChatKitty.${namespace}.${method}()`, `: not a method of the platform SDK's ${namespace}`);
        };
      }
      return (...args) => forward(namespace, method, route, args);
    },
  });
}

const ChatKitty = ObjectFreeze({
  Users,
  Application: unavailable("Application"),
  Channels: forwarded("Channels", CHANNELS),
  Functions: unavailable("Functions"),
  FunctionVersions: unavailable("FunctionVersions"),
  Imports: unavailable("Imports"),
  Jobs: unavailable("Jobs"),
  Messages: forwarded("Messages", MESSAGES),
  Runtime: unavailable("Runtime"),
  Threads: unavailable("Threads"),
});

/** The `context` argument of `handleEvent(event, context)`. */
export function createContext() {
  return ObjectFreeze({ ChatKitty });
}
