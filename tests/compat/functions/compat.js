// One meaningful call per package, chosen by the attempt's username; returning allows the
// attempt (the package works), throwing denies it with the reason.
const assert = require("assert");

const checks = {
  lodash: () => assert.deepStrictEqual(require("lodash").chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]),
  dayjs: () => assert.strictEqual(require("dayjs")("2024-02-28").add(1, "day").format("YYYY-MM-DD"), "2024-02-29"),
  zod: () => {
    const { z } = require("zod");
    const User = z.object({ name: z.string().min(1), age: z.number().int() });
    assert.deepStrictEqual(User.parse({ name: "ann", age: 3 }), { name: "ann", age: 3 });
    assert.strictEqual(User.safeParse({ name: "", age: 1.5 }).success, false);
  },
  uuid: () => {
    const { v4, validate, version } = require("uuid");
    const id = v4();
    assert.ok(validate(id) && version(id) === 4);
  },
  jsonwebtoken: () => {
    const jwt = require("jsonwebtoken");
    const token = jwt.sign({ sub: "ann" }, "s3cret", { algorithm: "HS256", expiresIn: 60 });
    assert.strictEqual(jwt.verify(token, "s3cret").sub, "ann");
    assert.throws(() => jwt.verify(token, "wrong"), /invalid signature/);
    // ES256 (ECDSA P-256), as Apple's and many identity providers' tokens are signed.
    const es256 = jwt.sign({ sub: "ann" }, EC_PRIVATE, { algorithm: "ES256" });
    assert.strictEqual(jwt.verify(es256, EC_PUBLIC, { algorithms: ["ES256"] }).sub, "ann");
  },
  jose: async () => {
    const jose = require("jose");
    const secret = new TextEncoder().encode("a-string-secret-at-least-256-bits-long");
    const token = await new jose.SignJWT({ sub: "ann" }).setProtectedHeader({ alg: "HS256" }).sign(secret);
    assert.strictEqual((await jose.jwtVerify(token, secret)).payload.sub, "ann");
  },
  // The HTTP clients talk to the recorded responses of compat.test.json's fixtures.
  axios: async () => {
    const res = await require("axios").get("http://compat.test/greeting", { params: { to: "ann" } });
    assert.strictEqual(res.status, 200);
    assert.deepStrictEqual(res.data, { greeting: "hello" });
  },
  "node-fetch": async () => {
    const fetch = require("node-fetch");
    const res = await fetch("http://compat.test/greeting?to=ann");
    assert.strictEqual(res.status, 200);
    assert.deepStrictEqual(await res.json(), { greeting: "hello" });
  },
  "@sendgrid/mail": async () => {
    const mail = require("@sendgrid/mail");
    mail.setApiKey("SG.test-key");
    const [response] = await mail.send({ to: "ann@example.com", from: "app@example.com", subject: "Welcome", text: "Hi Ann" });
    assert.strictEqual(response.statusCode, 202);
  },
  "firebase-admin": () => assert.strictEqual(typeof require("firebase-admin").initializeApp, "function"),
  "date-fns": () => {
    const { addDays, format, differenceInCalendarDays } = require("date-fns");
    assert.strictEqual(format(addDays(new Date(2024, 1, 28), 1), "yyyy-MM-dd"), "2024-02-29");
    assert.strictEqual(differenceInCalendarDays(new Date(2024, 2, 1), new Date(2024, 1, 1)), 29);
  },
  validator: () => {
    const validator = require("validator");
    assert.ok(validator.isEmail("ann@example.com") && !validator.isEmail("ann@"));
    assert.strictEqual(validator.normalizeEmail("Ann.Smith+chat@GMail.com"), "annsmith@gmail.com");
  },
  joi: () => {
    const Joi = require("joi");
    const schema = Joi.object({ username: Joi.string().alphanum().min(3).required() });
    assert.strictEqual(schema.validate({ username: "ann" }).error, undefined);
    assert.match(schema.validate({ username: "a!" }).error.message, /alpha-numeric/);
  },
  ajv: () => {
    const Ajv = require("ajv");
    const validate = new Ajv().compile({ type: "object", properties: { n: { type: "integer" } }, required: ["n"] });
    assert.ok(validate({ n: 1 }) && !validate({ n: "1" }));
  },
  bcryptjs: () => {
    const bcrypt = require("bcryptjs");
    const hash = bcrypt.hashSync("open-sesame", 4);
    assert.ok(bcrypt.compareSync("open-sesame", hash) && !bcrypt.compareSync("wrong", hash));
  },
  nanoid: () => {
    const { nanoid, customAlphabet } = require("nanoid");
    assert.strictEqual(nanoid().length, 21);
    assert.match(customAlphabet("abc", 8)(), /^[abc]{8}$/);
  },
  semver: () => {
    const semver = require("semver");
    assert.ok(semver.satisfies("13.2.0", "^13") && !semver.satisfies("12.0.0", "^13"));
    assert.strictEqual(semver.maxSatisfying(["1.2.3", "1.4.0", "2.0.0"], "~1.4"), "1.4.0");
  },
  qs: () => {
    const qs = require("qs");
    assert.deepStrictEqual(qs.parse("a[b][c]=1&list[]=x&list[]=y"), { a: { b: { c: "1" } }, list: ["x", "y"] });
    assert.strictEqual(qs.stringify({ a: { b: 1 } }, { encode: false }), "a[b]=1");
  },
  xml2js: async () => {
    const result = await require("xml2js").parseStringPromise("<msg from=\"ann\"><body>hi</body></msg>");
    assert.deepStrictEqual(result, { msg: { $: { from: "ann" }, body: ["hi"] } });
  },
  marked: () => assert.strictEqual(require("marked").marked.parse("**hi** there").trim(), "<p><strong>hi</strong> there</p>"),
  stripe: () => {
    // A webhook's signature, made and checked offline as a chat backend receiving Stripe events does.
    const stripe = require("stripe")("sk_test_123");
    const payload = JSON.stringify({ id: "evt_1", type: "payment_intent.succeeded" });
    const header = stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_test" });
    assert.strictEqual(stripe.webhooks.constructEvent(payload, header, "whsec_test").type, "payment_intent.succeeded");
    assert.throws(() => stripe.webhooks.constructEvent(payload, header, "whsec_other"), /signature/i);
  },
  i18next: async () => {
    const i18next = require("i18next");
    await i18next.init({ lng: "fr", resources: { fr: { translation: { welcome: "Bienvenue {{name}}" } } } });
    assert.strictEqual(i18next.t("welcome", { name: "Ann" }), "Bienvenue Ann");
  },
  // Database drivers load, escape, and fail to connect with an error (chatfn has no sockets).
  pg: async () => {
    const { Client } = require("pg");
    const client = new Client({ host: "127.0.0.1", port: 1, connectionTimeoutMillis: 2000 });
    assert.strictEqual(client.escapeLiteral("it's"), "'it''s'");
    await assert.rejects(async () => client.connect());
  },
  ioredis: async () => {
    const Redis = require("ioredis");
    const redis = new Redis({ host: "127.0.0.1", port: 1, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    redis.on("error", () => {});
    await assert.rejects(async () => redis.connect());
    redis.disconnect();
  },
  // AI, SMS and e-mail clients.
  openai: async () => {
    const OpenAI = require("openai");
    const client = new OpenAI({ apiKey: "sk-test", baseURL: "http://compat.test/v1" });
    const answer = await client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    assert.strictEqual(answer.choices[0].message.content, "hello");
  },
  twilio: () => {
    // A webhook's signature, as a chat backend receiving Twilio's callbacks checks it.
    const twilio = require("twilio");
    const url = "https://app.example.com/sms";
    const params = { From: "+15551234567", Body: "hi" };
    const signature = twilio.getExpectedTwilioSignature("auth-token", url, params);
    assert.ok(twilio.validateRequest("auth-token", signature, url, params));
    assert.ok(!twilio.validateRequest("other-token", signature, url, params));
  },
  nodemailer: async () => {
    const transport = require("nodemailer").createTransport({ jsonTransport: true });
    const info = await transport.sendMail({ from: "app@example.com", to: "ann@example.com", subject: "Welcome", text: "Hi Ann" });
    assert.strictEqual(JSON.parse(info.message).subject, "Welcome");
  },
  // Dates.
  luxon: () => {
    const { DateTime } = require("luxon");
    const t = DateTime.fromISO("2024-02-28T10:00", { zone: "utc" }).plus({ days: 1 });
    assert.strictEqual(t.toISODate(), "2024-02-29");
    assert.strictEqual(t.setZone("Asia/Tokyo").hour, 19);
  },
  moment: () => assert.strictEqual(require("moment").utc("2024-02-28").add(1, "day").format("YYYY-MM-DD"), "2024-02-29"),
  // Messages: markdown, sanitizing, links, templates, phone numbers.
  "markdown-it": () => assert.strictEqual(require("markdown-it")().render("**hi** there"), "<p><strong>hi</strong> there</p>\n"),
  xss: () => assert.strictEqual(require("xss")("<script>alert(1)</script><b>ok</b>"), "&lt;script&gt;alert(1)&lt;/script&gt;<b>ok</b>"),
  linkifyjs: () => {
    const links = require("linkifyjs").find("see example.com or write to ann@example.com");
    assert.deepStrictEqual(links.map((l) => [l.type, l.href]), [["url", "http://example.com"], ["email", "mailto:ann@example.com"]]);
  },
  mustache: () => assert.strictEqual(require("mustache").render("Hi {{name}}, {{&html}}", { name: "<Ann>", html: "<b>!</b>" }), "Hi &lt;Ann&gt;, <b>!</b>"),
  "sanitize-html": () => {
    const clean = require("sanitize-html")('<p onclick="x()">hi <script>alert(1)</script><a href="javascript:x">a</a></p>');
    assert.strictEqual(clean, "<p>hi <a>a</a></p>");
  },
  slugify: () => assert.strictEqual(require("slugify")("Hello World! Ça va", { lower: true, strict: true }), "hello-world-ca-va"),
  he: () => {
    const he = require("he");
    assert.strictEqual(he.decode("&lt;b&gt; &amp; &#x1F600;"), "<b> & \u{1F600}");
    assert.strictEqual(he.encode("<ann & bo>"), "&#x3C;ann &#x26; bo&#x3E;");
  },
  "libphonenumber-js": () => {
    const { parsePhoneNumber, isValidPhoneNumber } = require("libphonenumber-js");
    assert.strictEqual(parsePhoneNumber("+12133734253").formatInternational(), "+1 213 373 4253");
    assert.ok(isValidPhoneNumber("+447911123456") && !isValidPhoneNumber("+1 555"));
  },
  // Tokens and crypto.
  otplib: () => {
    const { hotp, authenticator } = require("otplib");
    // RFC 4226's first test vector.
    assert.strictEqual(hotp.generate("12345678901234567890", 0), "755224");
    const secret = authenticator.generateSecret();
    assert.ok(authenticator.check(authenticator.generate(secret), secret));
  },
  "crypto-js": () => {
    const CryptoJS = require("crypto-js");
    assert.strictEqual(CryptoJS.HmacSHA256("message", "key").toString(), "6e9ef29b75fffc5b7abae527d58fdadb2fe42e7219011976917343065f58ed4a");
    const sealed = CryptoJS.AES.encrypt("hi ann", "passphrase").toString();
    assert.strictEqual(CryptoJS.AES.decrypt(sealed, "passphrase").toString(CryptoJS.enc.Utf8), "hi ann");
  },
  // Caches and parsers.
  "lru-cache": () => {
    const { LRUCache } = require("lru-cache");
    const cache = new LRUCache({ max: 2 });
    cache.set("a", 1).set("b", 2).set("c", 3);
    assert.deepStrictEqual([cache.has("a"), cache.get("c")], [false, 3]);
  },
  "fast-xml-parser": () => {
    const { XMLParser } = require("fast-xml-parser");
    assert.deepStrictEqual(new XMLParser().parse("<msg><to>ann</to><n>2</n></msg>"), { msg: { to: "ann", n: 2 } });
  },
  // Cloud SDKs: a presigned S3 URL, made offline.
  "@aws-sdk/s3-request-presigner": async () => {
    const { S3Client, GetObjectCommand } = require("@aws-sdk/client-s3");
    const { getSignedUrl } = require("@aws-sdk/s3-request-presigner");
    const s3 = new S3Client({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" } });
    const url = new URL(await getSignedUrl(s3, new GetObjectCommand({ Bucket: "chat-uploads", Key: "a.png" }), { expiresIn: 60 }));
    assert.strictEqual(url.hostname, "chat-uploads.s3.us-east-1.amazonaws.com");
    assert.strictEqual(url.searchParams.get("X-Amz-Expires"), "60");
    assert.match(url.searchParams.get("X-Amz-Signature"), /^[0-9a-f]{64}$/);
  },
};

async function handleEvent(event) {
  const check = checks[event.username];
  if (!check) throw new Error(`no compatibility check named ${event.username}`);
  await check();
}

// The same checks run under Node by tests/compat/node-run.cjs.
module.exports = { handleEvent, checks };

// A throwaway P-256 key pair (made by Node) for the ES256 checks.
const EC_PRIVATE = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEILA2A6w58YxW7iuIMDw/qyo9ED0K9gMu9YlL2jISo0mNoAoGCCqGSM49\nAwEHoUQDQgAEX0yI7Dl+/XEgocImVEEZtAaarB0imjBFq2CEIBgpuvIjABwG+pJ7\nlgWP/3WLpg4EdsxfcZA5tA0+WnCRtH8cRA==\n-----END EC PRIVATE KEY-----\n";
const EC_PUBLIC = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEX0yI7Dl+/XEgocImVEEZtAaarB0i\nmjBFq2CEIBgpuvIjABwG+pJ7lgWP/3WLpg4EdsxfcZA5tA0+WnCRtH8cRA==\n-----END PUBLIC KEY-----\n";
