// Type definitions for chatfn chat functions: the `event` and `context` a function's
// handleEvent receives. Global declarations, so ChatKitty's documented functions
// (`handleEvent(event: UserAttemptedStartSessionEvent, context: Context)`) type-check as they
// are. Point your editor at this file, e.g. with a tsconfig.json beside your functions:
//   { "compilerOptions": { "types": [], "typeRoots": [] }, "files": ["<chatfn>/npm-shim/types/index.d.ts", "functions/your-function.ts"] }

/** The event of the `user.attempted.start_session` trigger: what the client passed to `startSession`. */
interface UserAttemptedStartSessionEvent {
  username: string;
  authParams: { [name: string]: any };
}

// ---- chat events (non-blocking triggers, reported by the chat backend to POST /v1/events) ----

/** A user as chat events carry it. */
interface ChatEventUser {
  id: number | string;
  name?: string;
  displayName?: string;
  isGuest?: boolean;
  properties?: { [name: string]: any };
  [field: string]: any;
}

/** A channel as chat events carry it (`id` orders the deliveries of a channel's events). */
interface ChatEventChannel {
  id: number | string;
  type?: "DIRECT" | "PUBLIC" | "PRIVATE";
  name?: string;
  properties?: { [name: string]: any };
  [field: string]: any;
}

/** A message as chat events carry it. */
interface ChatEventMessage {
  id?: number | string;
  type?: string;
  body?: string;
  channelId?: number | string;
  properties?: { [name: string]: any };
  [field: string]: any;
}

/** `user.received.notification` */
interface UserReceivedNotificationEvent {
  user: ChatEventUser;
  notification: { [field: string]: any };
  userHasActiveSession: boolean;
}

/** `user.sent.message` */
interface UserSentMessageEvent {
  user: ChatEventUser;
  channel: ChatEventChannel;
  message: ChatEventMessage;
}

/** `user.started.chat_session` */
interface UserStartedChatSessionEvent {
  user: ChatEventUser;
  channel: ChatEventChannel;
  channelUnread: boolean;
  channelMessagesCount: number;
}

/** `user.read.message` */
interface UserReadMessageEvent {
  user: ChatEventUser;
  message: ChatEventMessage;
  receipt: { [field: string]: any };
}

/** `user.received.channel_invite` */
interface UserReceivedChannelInviteEvent {
  user: ChatEventUser;
  channel: ChatEventChannel;
  invitingUser?: ChatEventUser | null;
}

/** `user.triggered.event`: a custom channel event a user sent. */
interface UserTriggeredEventEvent {
  user: ChatEventUser;
  channel: ChatEventChannel;
  event: { type?: string; properties?: { [name: string]: any }; [field: string]: any };
}

/** `system.triggered.event`: a custom channel event the system sent. */
interface SystemTriggeredEventEvent {
  channel: ChatEventChannel;
  event: { type?: string; properties?: { [name: string]: any }; [field: string]: any };
}

/** `user.reacted.to_message` */
interface UserReactedToMessageEvent {
  user: ChatEventUser;
  message: ChatEventMessage;
  reaction: { emoji?: string; [field: string]: any };
}

/** A chat user, as `chatkitty-platform-sdk`'s ChatUserResource. */
interface ChatUserResource {
  type: "PERSON";
  id: number;
  name: string;
  displayName: string;
  displayPictureUrl: string | null;
  isGuest: boolean;
  presence: { online: boolean; status: string };
  properties: { [key: string]: any };
  createdTime: string;
  _links: { [rel: string]: { href: string } };
}

interface CreatePersonChatUserResource {
  name: string;
  displayName?: string;
  isGuest?: boolean;
  properties?: { [key: string]: any };
}

interface ChatUserPropertiesPatch {
  displayName?: string;
  isGuest?: boolean;
  /** Merged key by key; a key set to null is removed. */
  properties?: { [key: string]: any };
}

interface PagedModelChatUserResource {
  _embedded: { users: ChatUserResource[] };
  page: { number: number; size: number; totalElements: number; totalPages: number };
  _links: { [rel: string]: { href: string } };
}

interface SecretResource {
  secret: any;
}

/** An axios-style answer: what every Platform API call resolves to. */
interface ApiResponse<T> {
  data: T;
  status: number;
  statusText: string;
  headers: { [name: string]: string };
  config: { method: string; url: string };
}

/**
 * An axios-style rejection: `response.status` is 404 for a missing user, 409 for a duplicate
 * name, 400 for a bad argument.
 */
interface ApiError extends Error {
  name: "AxiosError";
  isAxiosError: true;
  status: number;
  response: { status: number; statusText: string; data: { error: string; message: string } };
}

/** `context.ChatKitty.Users`: the methods of `chatkitty-platform-sdk`'s UsersApi. */
interface UsersApi {
  /** Resolves when a user with this name exists; rejects with status 404 otherwise. */
  checkUserExists(name: string): Promise<ApiResponse<object>>;
  createUser(resource: CreatePersonChatUserResource): Promise<ApiResponse<ChatUserResource>>;
  retrieveUser(id: number): Promise<ApiResponse<ChatUserResource>>;
  updateUser(id: number, patch?: ChatUserPropertiesPatch): Promise<ApiResponse<ChatUserResource>>;
  deleteUser(id: number): Promise<ApiResponse<ChatUserResource>>;
  listUsers(page?: number, size?: number, sort?: string[], name?: string): Promise<ApiResponse<PagedModelChatUserResource>>;
  setUserSecret(id: number, name: string, secretResource: SecretResource): Promise<ApiResponse<ChatUserResource>>;
  retrieveUserSecret(id: number, name: string): Promise<ApiResponse<SecretResource>>;
  removeUserSecret(id: number, name: string): Promise<ApiResponse<ChatUserResource>>;
}

/**
 * A namespace chatfn forwards to the app's chat backend (`[chat_backend]` in chatfn.toml), as
 * `chatkitty-platform-sdk`'s ChannelsApi and MessagesApi call it: each method resolves to an
 * axios-style `{ data, status }`. Without a backend every call rejects with ERR_CHATFN_NOT_AVAILABLE.
 */
type ForwardedApi = { [method: string]: (...args: any[]) => Promise<ApiResponse<any>> };

/** A namespace of the ChatKitty SDK that chatfn does not host: every call throws ERR_CHATFN_NOT_AVAILABLE. */
type UnavailableApi = { [method: string]: (...args: any[]) => never };

/** The second argument of handleEvent. */
interface Context {
  ChatKitty: {
    Users: UsersApi;
    Application: UnavailableApi;
    Channels: ForwardedApi;
    Functions: UnavailableApi;
    FunctionVersions: UnavailableApi;
    Imports: UnavailableApi;
    Jobs: UnavailableApi;
    Messages: ForwardedApi;
    Runtime: UnavailableApi;
    Threads: UnavailableApi;
  };
}

/** CommonJS, as chat functions and initialization scripts use it. */
declare function require(id: string): any;
declare const module: { exports: any };
declare const exports: any;
declare const __filename: string;
declare const __dirname: string;

/** The app's environment variables ([runtime.environment]), never the host's. */
declare const process: {
  env: { [name: string]: string | undefined };
  platform: "linux";
  version: string;
  nextTick(callback: (...args: any[]) => void, ...args: any[]): void;
  hrtime: { (previous?: [number, number]): [number, number]; bigint(): bigint };
};

/** console output is kept with the invocation (see `chatfn invoke` and `chatfn test`). */
declare const console: {
  log(...data: any[]): void;
  info(...data: any[]): void;
  debug(...data: any[]): void;
  warn(...data: any[]): void;
  error(...data: any[]): void;
  trace(...data: any[]): void;
  dir(value: any): void;
  table(value: any): void;
  assert(condition: any, ...data: any[]): void;
  count(label?: string): void;
  countReset(label?: string): void;
  time(label?: string): void;
  timeEnd(label?: string): void;
};

declare function setTimeout(callback: (...args: any[]) => void, ms?: number, ...args: any[]): unknown;
declare function setInterval(callback: (...args: any[]) => void, ms?: number, ...args: any[]): unknown;
declare function setImmediate(callback: (...args: any[]) => void, ...args: any[]): unknown;
declare function clearTimeout(handle: unknown): void;
declare function clearInterval(handle: unknown): void;
declare function clearImmediate(handle: unknown): void;
declare function queueMicrotask(callback: () => void): void;

/** Outbound HTTP, under the app's network policy and fixtures. */
declare class Headers implements Iterable<[string, string]> {
  constructor(init?: { [name: string]: string } | [string, string][] | Headers);
  append(name: string, value: string): void;
  set(name: string, value: string): void;
  get(name: string): string | null;
  has(name: string): boolean;
  delete(name: string): void;
  forEach(callback: (value: string, name: string, headers: Headers) => void): void;
  entries(): IterableIterator<[string, string]>;
  keys(): IterableIterator<string>;
  values(): IterableIterator<string>;
  [Symbol.iterator](): IterableIterator<[string, string]>;
}
type BodyInit = string | Uint8Array | ArrayBuffer | null;
interface RequestInit {
  method?: string;
  headers?: { [name: string]: string } | [string, string][] | Headers;
  body?: BodyInit;
}
declare class Response {
  constructor(body?: BodyInit, init?: { status?: number; statusText?: string; headers?: RequestInit["headers"] });
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly headers: Headers;
  readonly url: string;
  readonly redirected: boolean;
  readonly bodyUsed: boolean;
  text(): Promise<string>;
  json(): Promise<any>;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
  static json(data: any, init?: { status?: number; headers?: RequestInit["headers"] }): Response;
}
declare class Request {
  constructor(input: string | Request, init?: RequestInit);
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
}
declare function fetch(input: string | Request, init?: RequestInit): Promise<Response>;
declare class TextEncoder {
  readonly encoding: "utf-8";
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: "utf-8" | "utf8");
  readonly encoding: "utf-8";
  decode(input?: Uint8Array | ArrayBuffer): string;
}
