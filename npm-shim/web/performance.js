// The web's `performance` (also node:perf_hooks'): `now()` in milliseconds since the isolate
// started, `timeOrigin`, and user timing (marks and measures, the newest 1,000 kept).
import { core, primordials } from "ext:core/mod.js";
import { invalidArgType } from "ext:chatfn/internal/errors.js";
import { DOMException } from "ext:chatfn/web/encoding.js";
const { ArrayPrototypeFilter, ArrayPrototypePush, ArrayPrototypeShift, DateNow, SymbolToStringTag } = primordials;

const MAX_ENTRIES = 1000;
let entries = [];

export class PerformanceEntry {
  constructor(name, entryType, startTime, duration, detail) {
    this.name = name;
    this.entryType = entryType;
    this.startTime = startTime;
    this.duration = duration;
    this.detail = detail ?? null;
  }
  get [SymbolToStringTag]() { return this.entryType === "mark" ? "PerformanceMark" : "PerformanceMeasure"; }
  toJSON() {
    return { name: this.name, entryType: this.entryType, startTime: this.startTime, duration: this.duration, detail: this.detail };
  }
}

const now = () => core.ops.op_worker_monotonic_ms();

function keep(entry) {
  ArrayPrototypePush(entries, entry);
  if (entries.length > MAX_ENTRIES) ArrayPrototypeShift(entries);
  return entry;
}

/** A mark's time, or a time given as a number. */
function timeOf(markOrTime, name) {
  if (markOrTime === undefined) return undefined;
  if (typeof markOrTime === "number") return markOrTime;
  const found = ArrayPrototypeFilter(entries, (e) => e.entryType === "mark" && e.name === markOrTime);
  if (found.length === 0) throw new DOMException(`The mark '${markOrTime}' does not exist (${name}).`, "SyntaxError");
  return found[found.length - 1].startTime;
}

export const performance = {
  now,
  /** When the isolate's clock started, in ms since the epoch (kept right across snapshots). */
  get timeOrigin() {
    return DateNow() - now();
  },
  mark(name, options) {
    if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
    return keep(new PerformanceEntry(name, "mark", options?.startTime ?? now(), 0, options?.detail));
  },
  measure(name, startOrOptions, endMark) {
    if (typeof name !== "string") throw invalidArgType("name", "of type string", name);
    const options = typeof startOrOptions === "object" && startOrOptions !== null ? startOrOptions : { start: startOrOptions, end: endMark };
    const end = timeOf(options.end, name) ?? now();
    const start = timeOf(options.start, name) ?? (options.duration !== undefined ? end - options.duration : 0);
    return keep(new PerformanceEntry(name, "measure", start, end - start, options.detail));
  },
  getEntries: () => [...entries],
  getEntriesByName: (name, type) => ArrayPrototypeFilter(entries, (e) => e.name === name && (type === undefined || e.entryType === type)),
  getEntriesByType: (type) => ArrayPrototypeFilter(entries, (e) => e.entryType === type),
  clearMarks(name) {
    entries = ArrayPrototypeFilter(entries, (e) => e.entryType !== "mark" || (name !== undefined && e.name !== name));
  },
  clearMeasures(name) {
    entries = ArrayPrototypeFilter(entries, (e) => e.entryType !== "measure" || (name !== undefined && e.name !== name));
  },
  toJSON() {
    return { timeOrigin: this.timeOrigin };
  },
};
