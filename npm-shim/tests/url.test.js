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
  assert.throws(() => require("url").parse("https://x"), { code: "ERR_METHOD_NOT_IMPLEMENTED" });
}
