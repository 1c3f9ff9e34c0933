const assert = require("assert");
assert.strictEqual(require("node:path"), require("path"));

async function handleEvent() {
  const path = require("path");
  assert.strictEqual(path.join("/a/b", "../c", "./d.js"), "/a/c/d.js");
  assert.strictEqual(path.join("a", "", "b/"), "a/b/");
  assert.strictEqual(path.join(""), ".");
  assert.strictEqual(path.normalize("/x//y/../z/"), "/x/z/");
  assert.strictEqual(path.resolve("/root", "a", "../b"), "/root/b");
  assert.strictEqual(path.relative("/data/orandea/test/aaa", "/data/orandea/impl/bbb"), "../../impl/bbb");
  assert.strictEqual(path.dirname("/foo/bar/baz/asdf/quux"), "/foo/bar/baz/asdf");
  assert.strictEqual(path.basename("/foo/bar/baz/asdf/quux.html", ".html"), "quux");
  assert.strictEqual(path.extname("index.coffee.md"), ".md");
  assert.strictEqual(path.extname(".index"), "");
  assert.deepStrictEqual(path.parse("/home/user/dir/file.txt"), { root: "/", dir: "/home/user/dir", base: "file.txt", ext: ".txt", name: "file" });
  assert.strictEqual(path.format({ dir: "/home/user/dir", base: "file.txt" }), "/home/user/dir/file.txt");
  assert.strictEqual(path.isAbsolute("/x"), true);
  assert.strictEqual(path.sep, "/");
  assert.strictEqual(path.posix, path);
  assert.throws(() => path.win32, { code: "ERR_METHOD_NOT_IMPLEMENTED" });
  // Node's coded errors: class, code, Node's message, and the code in the stack's first line.
  assert.throws(() => path.join(null), { name: "TypeError", code: "ERR_INVALID_ARG_TYPE", message: 'The "path" argument must be of type string. Received null' });
  assert.throws(() => path.basename(42), (e) => e.message.endsWith("Received type number (42)") && e.stack.startsWith('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument'));
  assert.throws(() => path.dirname({}), { message: 'The "path" argument must be of type string. Received an instance of Object' });
}
