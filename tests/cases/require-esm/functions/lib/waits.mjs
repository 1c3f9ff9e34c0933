await Promise.resolve();
export const ready = true;
