// What `send` throws. Every error names the event ids concerned, so a caller can send them
// again with the same ids (a retry under a new id could store an event twice).

/** Base class of the errors this client throws. */
export class CTError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * CT did not acknowledge the event(s) after every attempt (5xx, 429, timeouts, lost
 * connections). CT may or may not have stored them: `producer.sendBatch(error.events)` sends
 * the same ids and content again, and CT keeps each once.
 */
export class DeliveryError extends CTError {
  /**
   * @param {string} message
   * @param {{eventIds: string[], attempts: number, events?: import("./producer.js").EventInput[]}} info
   */
  constructor(message, { eventIds, attempts, events = [] }) {
    super(message);
    this.eventIds = eventIds;
    this.attempts = attempts;
    this.events = events;
  }
}

/**
 * CT refused the request with a 4xx other than 429: retrying it unchanged cannot help.
 * `code` is CT's error code (`validation_failed`, `wrong_source`, …; docs/ingest.md §7).
 */
export class RejectedError extends CTError {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {{eventIds: string[], details?: unknown}} info
   */
  constructor(status, code, message, { eventIds, details = null }) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.details = details;
    this.eventIds = eventIds;
  }
}

/** 409 `event_id_conflict`: the id was already used for different content. */
export class ConflictError extends RejectedError {}

/** 401: the token, the signature or the timestamp was refused. */
export class AuthenticationError extends RejectedError {}

/**
 * The typed error for a 4xx answer whose body is CT's `{"error": {...}}`.
 *
 * @param {number} status
 * @param {any} body
 * @param {string[]} eventIds
 * @returns {RejectedError}
 */
export function rejectedError(status, body, eventIds) {
  const error = body && typeof body.error === "object" && body.error !== null ? body.error : {};
  const code = String(error.code || `http_${status}`);
  const message = String(error.message || "");
  const Kind =
    status === 409 ? ConflictError : status === 401 ? AuthenticationError : RejectedError;
  return new Kind(status, code, message, { eventIds, details: error.details ?? null });
}
