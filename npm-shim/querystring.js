// node:querystring: parse and stringify application/x-www-form-urlencoded strings.
function unescape(text) {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

function escape(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

function parse(text, sep = "&", eq = "=") {
  const out = Object.create(null);
  if (typeof text !== "string" || text === "") return out;
  for (const part of text.split(sep)) {
    if (part === "") continue;
    const i = part.indexOf(eq);
    const key = unescape(i < 0 ? part : part.slice(0, i));
    const value = unescape(i < 0 ? "" : part.slice(i + eq.length));
    if (key in out) out[key] = [].concat(out[key], value);
    else out[key] = value;
  }
  return out;
}

function stringify(obj, sep = "&", eq = "=") {
  if (obj === null || typeof obj !== "object") return "";
  const value = (v) => (typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean" ? escape(String(v)) : "");
  return Object.keys(obj)
    .map((k) => (Array.isArray(obj[k]) ? obj[k].map((v) => escape(k) + eq + value(v)).join(sep) : escape(k) + eq + value(obj[k])))
    .filter(Boolean)
    .join(sep);
}

export default { parse, stringify, decode: parse, encode: stringify, escape, unescape };
