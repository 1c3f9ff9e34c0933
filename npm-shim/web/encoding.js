// The web's text and byte encodings: TextEncoder/TextDecoder (UTF-8), atob/btoa, and the
// DOMException the web APIs throw.
import { core, primordials } from "ext:core/mod.js";
import { base64Decode, base64Encode, latin1Decode, latin1Encode } from "ext:chatfn/internal/bytes.js";
const { ArrayBufferPrototype, Error, ObjectPrototypeIsPrototypeOf, String, StringPrototypeCharCodeAt, StringPrototypeReplace, StringPrototypeToLowerCase, TypeError, Uint8Array } = primordials;

/** The web's DOMException, for the few web APIs chatfn provides. */
export class DOMException extends Error {
  constructor(message = "", name = "Error") {
    super(message);
    this.name = name;
  }
}

export class TextEncoder {
  get encoding() { return "utf-8"; }
  encode(input = "") { return core.encode(String(input)); }
}

export class TextDecoder {
  constructor(label = "utf-8") {
    const l = StringPrototypeToLowerCase(String(label));
    if (l !== "utf-8" && l !== "utf8") throw new TypeError(`TextDecoder: only utf-8 is supported in chatfn, not ${label}`);
  }
  get encoding() { return "utf-8"; }
  decode(input) {
    if (input === undefined) return "";
    const bytes = ObjectPrototypeIsPrototypeOf(ArrayBufferPrototype, input) ? new Uint8Array(input) : input;
    return core.decode(bytes);
  }
}

function invalidCharacter(what) {
  return new DOMException(`${what}: The string to be encoded contains characters outside of the Latin1 range.`, "InvalidCharacterError");
}

export function btoa(text) {
  text = String(text);
  for (let i = 0; i < text.length; i++) if (StringPrototypeCharCodeAt(text, i) > 255) throw invalidCharacter("btoa");
  return base64Encode(latin1Decode(text));
}

export function atob(text) {
  const cleaned = StringPrototypeReplace(String(text), /[\t\n\f\r ]/g, "");
  if (/[^A-Za-z0-9+/=]/.test(cleaned) || cleaned.length % 4 === 1) {
    throw new DOMException("atob: The string to be decoded is not correctly encoded.", "InvalidCharacterError");
  }
  return latin1Encode(base64Decode(cleaned));
}
