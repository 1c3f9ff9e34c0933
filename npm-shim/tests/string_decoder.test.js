// node:string_decoder as Node documents it: multi-byte characters split across chunks.
const assert = require("assert");
const { StringDecoder } = require("node:string_decoder");
assert.strictEqual(require("string_decoder").StringDecoder, StringDecoder);

async function handleEvent() {
  const decoder = new StringDecoder("utf8");
  const euro = Buffer.from("€"); // e2 82 ac
  assert.strictEqual(decoder.write(euro.subarray(0, 1)), "");
  assert.strictEqual(decoder.write(euro.subarray(1, 2)), "");
  assert.strictEqual(decoder.write(euro.subarray(2)), "€");
  assert.strictEqual(decoder.write(Buffer.from("plain")), "plain");

  const cent = new StringDecoder("utf8");
  assert.strictEqual(cent.write(Buffer.from([0xc2])), "");
  assert.strictEqual(cent.end(Buffer.from([0xa2])), "¢");

  // An incomplete character at the end comes out as a replacement character.
  const cut = new StringDecoder("utf8");
  cut.write(Buffer.from([0xe2, 0x82]));
  assert.strictEqual(cut.end(), "\ufffd");

  // Each emoji (4 bytes) fed one byte at a time.
  const emoji = new StringDecoder();
  let text = "";
  for (const byte of Buffer.from("👍👍")) text += emoji.write(Buffer.from([byte]));
  assert.strictEqual(text + emoji.end(), "👍👍");

  // Any ArrayBuffer view is read as its bytes (little-endian here, as Node on this machine).
  assert.strictEqual(new StringDecoder().write(new Uint16Array([0x6968])), "hi");
  assert.strictEqual(new StringDecoder().write(new DataView(new Uint8Array([104, 105]).buffer)), "hi");
}
