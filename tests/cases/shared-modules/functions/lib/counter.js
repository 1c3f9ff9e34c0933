let limit = 0;
let seen = 0;
module.exports = {
  configure: (options) => { limit = options.limit; },
  next: () => ++seen,
  get limit() { return limit; },
};
