// node:querystring as Node documents it.
const assert = require("assert");
const qs = require("node:querystring");
assert.strictEqual(require("querystring"), qs);

async function handleEvent() {
  const parsed = qs.parse("foo=bar&abc=xyz&abc=123&empty=&flag");
  assert.deepStrictEqual({ ...parsed }, { foo: "bar", abc: ["xyz", "123"], empty: "", flag: "" });
  assert.strictEqual(Object.getPrototypeOf(parsed), null);
  assert.deepStrictEqual({ ...qs.parse("a=1;b=2", ";") }, { a: "1", b: "2" });
  assert.deepStrictEqual({ ...qs.parse("w=%D6%D0%CE%C4&q=a+b%20c") }.q, "a b c");
  assert.strictEqual(qs.stringify({ foo: "bar", baz: ["qux", "quux"], corge: "" }), "foo=bar&baz=qux&baz=quux&corge=");
  assert.strictEqual(qs.stringify({ w: "中文", foo: "bar" }), "w=%E4%B8%AD%E6%96%87&foo=bar");
  assert.strictEqual(qs.stringify({ a: "x y", b: "!'()*" }), "a=x%20y&b=%21%27%28%29%2A");
  assert.strictEqual(qs.stringify({ n: 1, t: true, o: {} }), "n=1&t=true&o=");
  assert.strictEqual(qs.stringify({ foo: "bar", baz: "qux" }, ";", ":"), "foo:bar;baz:qux");
  assert.strictEqual(qs.stringify(null), "");
  assert.deepStrictEqual({ ...qs.parse("") }, {});
}
