// Its package says "commonjs": ES module syntax here is a syntax error, as in Node.
export const answer = 42;
