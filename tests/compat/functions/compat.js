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
