// No "type" in its package.json, and ES module syntax: Node 22 loads it as an ES module.
export const answer = 42;
