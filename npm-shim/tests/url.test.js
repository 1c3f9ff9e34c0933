const assert = require("assert");
assert.strictEqual(require("node:url"), require("url"));

async function handleEvent() {
  const { URL: NodeURL, URLSearchParams: NodeParams, fileURLToPath } = require("url");
  assert.strictEqual(NodeURL, URL);
  assert.strictEqual(NodeParams, URLSearchParams);
  const u = new URL("https://user:pw@example.com:8080/a/b?x=1&y=two#frag");
  assert.deepStrictEqual(
    [u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname, u.search, u.hash, u.origin],
    ["https:", "user", "pw", "example.com:8080", "example.com", "8080", "/a/b", "?x=1&y=two", "#frag", "https://example.com:8080"],
  );
  assert.strictEqual(u.searchParams.get("y"), "two");
  u.searchParams.append("z", "a b&c");
  assert.strictEqual(u.search, "?x=1&y=two&z=a+b%26c");
  u.pathname = "/c";
  u.hash = "";
  assert.strictEqual(u.href, "https://user:pw@example.com:8080/c?x=1&y=two&z=a+b%26c");
  assert.strictEqual(new URL("../up", "https://h.test/a/b/c").href, "https://h.test/a/up");
  assert.strictEqual(JSON.stringify({ u: new URL("https://h.test") }), '{"u":"https://h.test/"}');
  assert.throws(() => new URL("not a url"), { code: "ERR_INVALID_URL" });
  assert.ok(URL.canParse("https://ok.test") && !URL.canParse("nope"));
  const p = new URLSearchParams({ q: "chat fn", n: 2 });
  p.set("q", "x");
  assert.strictEqual(p.toString(), "q=x&n=2");
  assert.deepStrictEqual([...new URLSearchParams("?a=1&a=2&b=%20")], [["a", "1"], ["a", "2"], ["b", " "]]);
  assert.strictEqual(fileURLToPath("file:///srv/app/a%20b.js"), "/srv/app/a b.js");
  const legacy = require("url").parse("https://ann:pw@chat.test:8443/p/a?x=1#h", true);
  assert.deepStrictEqual(
    [legacy.protocol, legacy.auth, legacy.host, legacy.hostname, legacy.port, legacy.pathname, legacy.search, legacy.path, legacy.hash],
    ["https:", "ann:pw", "chat.test:8443", "chat.test", "8443", "/p/a", "?x=1", "/p/a?x=1", "#h"],
  );
  assert.deepStrictEqual(legacy.query, { x: "1" });
  const rel = require("url").parse("/only/path?q=2");
  assert.deepStrictEqual([rel.protocol, rel.host, rel.pathname, rel.query, rel.href], [null, null, "/only/path", "q=2", "/only/path?q=2"]);
  assert.strictEqual(require("url").format({ protocol: "https", hostname: "chat.test", pathname: "/a", query: { b: "c d" } }), "https://chat.test/a?b=c+d");
  assert.strictEqual(require("url").resolve("http://chat.test/a/b", "../c"), "http://chat.test/c");
}
