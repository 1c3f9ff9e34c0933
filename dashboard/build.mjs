// Bundles the dashboard (src/) into dist/, which the chatfn binary embeds
// (runtime/src/http/dashboard.rs). `node build.mjs --check` fails when dist/ differs from a
// fresh build of the sources (CI runs it).
import { build } from "esbuild";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const check = process.argv.includes("--check");
const result = await build({
  entryPoints: [join(here, "src/main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  legalComments: "none",
  write: false,
});
const outputs = {
  "app.js": result.outputFiles[0].text,
  "index.html": readFileSync(join(here, "src/index.html"), "utf8"),
  "app.css": readFileSync(join(here, "src/app.css"), "utf8"),
};
mkdirSync(join(here, "dist"), { recursive: true });
let stale = [];
for (const [name, text] of Object.entries(outputs)) {
  const file = join(here, "dist", name);
  let old = null;
  try {
    old = readFileSync(file, "utf8");
  } catch {}
  if (old !== text) {
    stale.push(name);
    if (!check) writeFileSync(file, text);
  }
}
if (check && stale.length) {
  console.error(`dashboard/dist is not a build of dashboard/src (differs: ${stale.join(", ")}); run: cd dashboard && npm ci && npm run build`);
  process.exit(1);
}
console.log(check ? "dashboard/dist matches its sources" : `dashboard/dist: ${stale.length ? stale.join(", ") + " written" : "unchanged"}`);
