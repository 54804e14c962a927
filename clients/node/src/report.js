// Uncaught errors as `backend.fn.error`, with no stack text and no message.
//
// The event says which function failed, how badly, and a `stack_ref`: a SHA-256 over the
// error's class and its stack frames (function, file name, line and column, without
// directories), never over the message, which may hold personal data. The same bug gives the
// same reference, so CT can group it; the reference is also set on the error as `ctStackRef`,
// so the function's own log line can be found from the event. An error is reported once,
// however many wrappers it passes through.
import { createHash } from "node:crypto";

export const ERROR_EVENT_TYPE = "backend.fn.error";
export const SEVERITIES = Object.freeze(["low", "medium", "high", "critical"]);
const FN_NAME_MAX = 128;
const reported = new WeakSet();

/**
 * `sha256:<hex>` of the error's class and stack frames; the same for the same failure.
 *
 * @param {unknown} error
 * @returns {string}
 */
export function stackRef(error) {
  const kind = error instanceof Error ? error.constructor.name : typeof error;
  const stack = error instanceof Error ? String(error.stack ?? "") : "";
  const frames = stack
    .split("\n")
    .filter((line) => /^\s+at /.test(line))
    .map((line) => line.trim().replace(/[^\s()]*[\\/]/g, ""));
  const digest = createHash("sha256").update(`${kind}\n${frames.join("\n")}\n`, "utf8");
  return `sha256:${digest.digest("hex")}`;
}

/**
 * @typedef {object} ReportOptions
 * @property {import("./producer.js").Producer} producer
 * @property {"low" | "medium" | "high" | "critical"} [severity] default "high"
 * @property {string} [fnName] default: the function's name
 */

/**
 * Wrap a function (a Cloud Function handler, typically) so that an error escaping it is sent
 * as `backend.fn.error` and then rethrown unchanged. The wrapper is async and waits for the
 * report (a Cloud Function may be frozen once its handler settles); a failure to report is
 * logged with `console.warn` and never hides the original error.
 *
 * @template {unknown[]} A
 * @template R
 * @param {(...args: A) => R | Promise<R>} fn
 * @param {ReportOptions} options
 * @returns {(...args: A) => Promise<R>}
 */
export function withErrorReporting(
  fn,
  { producer, severity = "high", fnName } = /** @type {any} */ ({}),
) {
  if (!producer) throw new TypeError("withErrorReporting needs { producer }");
  if (!SEVERITIES.includes(severity)) {
    throw new RangeError(`severity must be one of ${SEVERITIES.join(", ")}, not ${severity}`);
  }
  const name = (fnName || fn.name || "unknown").slice(0, FN_NAME_MAX);
  /** @this {unknown} @param {A} args */
  async function reporting(...args) {
    try {
      return await fn.apply(this, args);
    } catch (error) {
      await report(producer, error, name, severity);
      throw error;
    }
  }
  Object.defineProperty(reporting, "name", { value: name });
  return reporting;
}

/**
 * @param {import("./producer.js").Producer} producer
 * @param {unknown} error
 * @param {string} fnName
 * @param {string} severity
 */
async function report(producer, error, fnName, severity) {
  const isObject = typeof error === "object" && error !== null;
  if (isObject && reported.has(error)) return;
  const ref = stackRef(error);
  if (isObject) {
    reported.add(error);
    if (Object.isExtensible(error)) {
      Object.defineProperty(error, "ctStackRef", {
        value: ref,
        enumerable: true,
        configurable: true,
      });
    }
  }
  try {
    await producer.send(ERROR_EVENT_TYPE, { fn_name: fnName, severity, stack_ref: ref });
  } catch (failure) {
    // Our own failure only (CT unreachable, refused): never the reported error's message.
    console.warn(
      `ct-producer: could not report an error to Control Tower: ${/** @type {Error} */ (failure).message}`,
    );
  }
}
