import { shout } from "./esm-only/dist/index.js";
export let calls = 0;
export default function greet(name) {
  calls++;
  return shout(`hello ${name}`);
}
