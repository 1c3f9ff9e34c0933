// An ES-module-only package (its package.json says "type": "module").
export const shout = (text) => text.toUpperCase() + "!";
const hidden = { kind: "cjs-shaped" };
export { hidden as "module.exports" };
