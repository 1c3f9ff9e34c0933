// node:fs: the app's own files, read-only, in the sync, callback and promise forms, with
// Node's error codes; nothing outside the app directory.
const assert = require("assert");
const fs = require("node:fs");
const path = require("path");
assert.strictEqual(require("fs"), fs);
assert.strictEqual(require("fs/promises"), fs.promises);

async function handleEvent() {
  const cert = path.join(__dirname, "fixtures", "test-cert.pem");
  const text = fs.readFileSync(cert, "utf8");
  assert.ok(text.startsWith("-----BEGIN CERTIFICATE-----"), text.slice(0, 40));
  const bytes = fs.readFileSync(cert);
  assert.ok(Buffer.isBuffer(bytes));
  assert.strictEqual(bytes.toString("utf8"), text);
  assert.strictEqual(fs.readFileSync(cert, { encoding: "utf8" }), text);

  const stat = fs.statSync(cert);
  assert.ok(stat.isFile() && !stat.isDirectory());
  assert.strictEqual(stat.size, bytes.length);
  assert.ok(stat.mtime instanceof Date);
  assert.ok(fs.statSync(path.join(__dirname, "fixtures")).isDirectory());
  assert.deepStrictEqual(fs.readdirSync(path.join(__dirname, "fixtures")).sort(), ["test-cert.pem", "test-key.pem"]);
  const typed = fs.readdirSync(__dirname, { withFileTypes: true });
  assert.ok(typed.some((e) => e.name === "fixtures" && e.isDirectory()));
  assert.ok(fs.existsSync(cert));
  assert.ok(!fs.existsSync(path.join(__dirname, "nope.txt")));

  // Missing files: ENOENT, in every form.
  const missing = path.join(__dirname, "nope.txt");
  assert.throws(() => fs.readFileSync(missing), { code: "ENOENT" });
  assert.strictEqual(fs.statSync(missing, { throwIfNoEntry: false }), undefined);
  await assert.rejects(fs.promises.readFile(missing), { code: "ENOENT" });
  // The op throws Node's system error whole: code, errno, syscall, path, message.
  const notThere = (() => { try { fs.readFileSync(missing); } catch (e) { return e; } })();
  assert.deepStrictEqual([notThere.code, notThere.errno, notThere.syscall, notThere.path], ["ENOENT", -2, "open", missing]);
  assert.strictEqual(notThere.message, `ENOENT: no such file or directory, open '${missing}'`);
  assert.throws(() => fs.readdirSync(missing), { code: "ENOENT", syscall: "scandir", path: missing });
  assert.throws(() => fs.statSync("/etc/passwd"), { code: "ENOENT", syscall: "stat", path: "/etc/passwd" });
  assert.throws(() => fs.readFileSync(__dirname), { code: "EISDIR", errno: -21 });
  assert.strictEqual(fs.statSync(cert + "/inside", { throwIfNoEntry: false }), undefined, "ENOTDIR counts as no entry");
  assert.throws(() => fs.writeFileSync(cert, "x"), { code: "EROFS", errno: -30, path: cert });
  const viaCallback = await new Promise((resolve) => fs.readFile(missing, (err) => resolve(err)));
  assert.strictEqual(viaCallback.code, "ENOENT");
  assert.strictEqual(await fs.promises.readFile(cert, "utf8"), text);
  assert.strictEqual(await new Promise((resolve, reject) => fs.readFile(cert, "utf8", (e, t) => (e ? reject(e) : resolve(t)))), text);

  // Streams read the same bytes.
  const chunks = [];
  await new Promise((resolve, reject) => {
    fs.createReadStream(cert).on("data", (c) => chunks.push(c)).on("end", resolve).on("error", reject);
  });
  assert.strictEqual(Buffer.concat(chunks).toString("utf8"), text);

  // Writes are refused: the app's files are read-only.
  assert.throws(() => fs.writeFileSync(path.join(__dirname, "x.txt"), "data"), { code: "EROFS" });
  await assert.rejects(fs.promises.writeFile(path.join(__dirname, "x.txt"), "data"), { code: "EROFS" });
  assert.throws(() => fs.mkdirSync(path.join(__dirname, "dir")), { code: "EROFS" });

  // Nothing outside the app directory is there for it.
  assert.throws(() => fs.readFileSync("/etc/passwd"));
  assert.throws(() => fs.readFileSync(path.join(__dirname, "..", "..", "etc", "passwd")));
  assert.ok(!fs.existsSync("/etc/hostname"));
}
