// When to try again: exponential backoff with jitter, and CT's Retry-After.

/**
 * @typedef {object} Backoff
 * @property {number} [initialMs] the first wait's ceiling (default 500)
 * @property {number} [multiplier] how the ceiling grows per attempt (default 2)
 * @property {number} [maximumMs] the longest wait, and the longest Retry-After honoured (default 30000)
 */

export const DEFAULT_BACKOFF = Object.freeze({ initialMs: 500, multiplier: 2, maximumMs: 30000 });

/**
 * Milliseconds to wait after failed attempt `attempt` (1-based), or null to give up.
 * Attempt n waits a random time in [c/2, c], c = min(maximum, initial × multiplier^(n-1)), so
 * producers that failed together do not retry together. A Retry-After replaces it (plus up to
 * `initialMs` of jitter); one longer than `maximumMs` ends the attempts rather than retry early.
 *
 * @param {Backoff} backoff
 * @param {number} attempt
 * @param {number | null} retryAfterMs
 * @param {() => number} [random]
 * @returns {number | null}
 */
export function nextDelay(backoff, attempt, retryAfterMs, random = Math.random) {
  const { initialMs, multiplier, maximumMs } = { ...DEFAULT_BACKOFF, ...backoff };
  if (retryAfterMs !== null) {
    return retryAfterMs > maximumMs ? null : retryAfterMs + random() * initialMs;
  }
  const ceiling = Math.min(maximumMs, initialMs * multiplier ** (attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * CT says to retry 429 and every 5xx with the same event id (docs/ingest.md §4).
 *
 * @param {number} status
 */
export function isRetryable(status) {
  return status === 429 || status >= 500;
}

/**
 * Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 *
 * @param {string | null | undefined} value
 * @param {number} [nowMs]
 * @returns {number | null}
 */
export function parseRetryAfter(value, nowMs = Date.now()) {
  const text = (value ?? "").trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when) || !/[a-z]/i.test(text)) return null;
  return Math.max(0, when - nowMs);
}
