// Producer: sends events to Control Tower, signed, with ULID ids, retried with the same id and
// body on 5xx, 429 (after Retry-After), timeouts and lost connections.
import { DeliveryError, rejectedError } from "./errors.js";
import { isRetryable, nextDelay, parseRetryAfter } from "./retry.js";
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, sign } from "./signing.js";
import { newUlid } from "./ulid.js";

export const VERSION = "0.1.0";
const USER_AGENT = `ct-producer-node/${VERSION}`;
// CT's defaults are 500 events and 4 MiB per batch; a quarter of the bytes leaves room for a
// server configured tighter than the default.
export const MAX_BATCH_EVENTS = 500;
export const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * @typedef {object} ProducerOptions
 * @property {string} url CT's base URL, e.g. `https://ct.example.com`
 * @property {string} token the producer token (`ct_…`)
 * @property {string} secret its signing secret (`whsec_…`)
 * @property {string} source the source the token is bound to, e.g. `backend`
 * @property {number} [timeoutMs] per attempt (default 10000)
 * @property {number} [maxAttempts] attempts per request, the first included (default 5)
 * @property {import("./retry.js").Backoff} [backoff] waits between attempts
 * @property {boolean} [timestamped] sign with `X-CT-Timestamp` (default true)
 * @property {() => number} [now] the clock, in milliseconds (default `Date.now`)
 * @property {typeof fetch} [fetch] the fetch to use (default the global one)
 */

/**
 * @typedef {object} EventInput
 * @property {string} type an event type of CT's catalogue
 * @property {Record<string, unknown>} [payload]
 * @property {string} [eventId] idempotency key (default: a new ULID)
 * @property {Date | string} [occurredAt] default: now
 * @property {string} [correlationId]
 */

/**
 * @typedef {object} SendOptions
 * @property {string} [eventId]
 * @property {Date | string} [occurredAt]
 * @property {string} [correlationId]
 */

/**
 * @typedef {object} Result
 * @property {string} eventId
 * @property {number} status 202 stored now, 200 duplicate; in a batch, also the 4xx refusing it
 * @property {boolean} duplicate
 * @property {string[]} redactions payload paths CT masked (single sends)
 * @property {string | null} errorCode CT's error code for a refused batch item
 * @property {number} attempts
 */

/**
 * @typedef {object} BatchResult
 * @property {Result[]} results one per event, in order
 * @property {number} accepted
 * @property {number} duplicates
 * @property {number} rejected
 */

/**
 * @typedef {object} Envelope
 * @property {string} eventId
 * @property {string} body the JSON text; its UTF-8 bytes are what is signed and sent
 * @property {EventInput} event the event with its defaults filled in
 */

/** @typedef {{status: number | null, data: any, attempts: number, failure: string}} Reply */

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Producer {
  // Private, so logging or serialising a producer never shows the credentials.
  #token;
  #secret;
  #fetch;

  /** @param {ProducerOptions} options */
  constructor({
    url,
    token,
    secret,
    source,
    timeoutMs = 10000,
    maxAttempts = 5,
    backoff = {},
    timestamped = true,
    now = Date.now,
    fetch = globalThis.fetch,
  }) {
    if (!url || !token || !secret || !source) {
      throw new TypeError("Producer needs url, token, secret and source");
    }
    if (!(maxAttempts >= 1)) throw new RangeError("maxAttempts must be at least 1");
    this.url = url.replace(/\/+$/, "");
    this.source = source;
    this.timeoutMs = timeoutMs;
    this.maxAttempts = maxAttempts;
    this.backoff = backoff;
    this.timestamped = timestamped;
    this.now = now;
    this.#token = token;
    this.#secret = secret;
    this.#fetch = fetch;
  }

  /**
   * Send one event. Throws `RejectedError` on a 4xx other than 429 (`ConflictError` on 409,
   * `AuthenticationError` on 401) and `DeliveryError` when no attempt was acknowledged.
   *
   * @param {string} type
   * @param {Record<string, unknown>} [payload]
   * @param {SendOptions} [options]
   * @returns {Promise<Result>}
   */
  async send(type, payload = {}, { eventId, occurredAt, correlationId } = {}) {
    const envelope = this.envelope({ type, payload, eventId, occurredAt, correlationId });
    const reply = await this.#post("/events", envelope.body, [envelope.eventId]);
    if (reply.status === null) throw notDelivered(reply, [envelope]);
    if (reply.status < 200 || reply.status >= 300) {
      throw rejectedError(reply.status, reply.data, [envelope.eventId]);
    }
    const data = reply.data ?? {};
    return {
      eventId: envelope.eventId,
      status: reply.status,
      duplicate: Boolean(data.duplicate ?? reply.status === 200),
      redactions: Array.isArray(data.redactions) ? data.redactions.map(String) : [],
      errorCode: null,
      attempts: reply.attempts,
    };
  }

  /**
   * Send events through `POST /events/batch`, cut into batches CT accepts. A refused event
   * does not throw: its result carries the 4xx status and `errorCode`.
   *
   * @param {EventInput[]} events
   * @returns {Promise<BatchResult>}
   */
  async sendBatch(events) {
    const envelopes = events.map((event) => this.envelope(event));
    /** @type {Result[]} */
    const results = [];
    const groups = chunks(envelopes);
    for (const [number, group] of groups.entries()) {
      const ids = group.map((e) => e.eventId);
      const body = `{"events":[${group.map((e) => e.body).join(",")}]}`;
      const reply = await this.#post("/events/batch", body, ids);
      if (reply.status === null) throw notDelivered(reply, groups.slice(number).flat());
      if (reply.status < 200 || reply.status >= 300)
        throw rejectedError(reply.status, reply.data, ids);
      const items = reply.data?.results;
      if (!Array.isArray(items) || items.length !== group.length) {
        throw new Error(`CT's batch answer has no result per event (HTTP ${reply.status})`);
      }
      items.forEach((item, index) => {
        results.push({
          eventId: ids[index],
          status: Number(item.status),
          duplicate: Boolean(item.duplicate),
          redactions: [],
          errorCode: item.error ? String(item.error.code) : null,
          attempts: reply.attempts,
        });
      });
    }
    const ok = results.filter((r) => r.status >= 200 && r.status < 300);
    return {
      results,
      accepted: ok.filter((r) => !r.duplicate).length,
      duplicates: ok.filter((r) => r.duplicate).length,
      rejected: results.length - ok.length,
    };
  }

  /**
   * Send `system.heartbeat` for a system of the catalogue.
   *
   * @param {string} systemId
   * @param {string} [version]
   */
  heartbeat(systemId, version) {
    const payload =
      version === undefined ? { system_id: systemId } : { system_id: systemId, version };
    return this.send("system.heartbeat", payload);
  }

  /**
   * The event as CT's contract spells it, serialised once: a retry never re-serialises it.
   *
   * @param {EventInput} event
   * @returns {Envelope}
   */
  envelope({ type, payload = {}, eventId, occurredAt, correlationId }) {
    const id = eventId || newUlid(this.now());
    const when = occurredAt ?? new Date(this.now());
    const occurred = typeof when === "string" ? when : when.toISOString();
    /** @type {Record<string, unknown>} */
    const document = { event_id: id, type, occurred_at: occurred, source: this.source, payload };
    if (correlationId !== undefined && correlationId !== null)
      document.correlation_id = correlationId;
    return {
      eventId: id,
      // JSON.stringify escapes lone surrogates, so the text always has one UTF-8 encoding:
      // the bytes signed are the bytes fetch sends.
      body: JSON.stringify(document),
      event: { type, payload, eventId: id, occurredAt: occurred, correlationId },
    };
  }

  /**
   * One request, with its retries: the same body on every attempt, signed afresh.
   *
   * @param {string} path
   * @param {string} body
   * @param {string[]} eventIds
   * @returns {Promise<Reply>}
   */
  async #post(path, body, eventIds) {
    for (let attempt = 1; ; attempt += 1) {
      /** @type {Record<string, string>} */
      const headers = {
        Authorization: `Bearer ${this.#token}`,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
      };
      if (this.timestamped) {
        const timestamp = String(Math.floor(this.now() / 1000));
        headers[TIMESTAMP_HEADER] = timestamp;
        headers[SIGNATURE_HEADER] = sign(this.#secret, body, timestamp);
      } else {
        headers[SIGNATURE_HEADER] = sign(this.#secret, body);
      }
      let failure;
      let retryAfterMs = null;
      try {
        const response = await this.#fetch(this.url + path, {
          method: "POST",
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const text = await response.text();
        if (!isRetryable(response.status)) {
          return { status: response.status, data: parseJson(text), attempts: attempt, failure: "" };
        }
        failure = `HTTP ${response.status}`;
        retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), this.now());
      } catch (error) {
        // fetch rejects with a TypeError for network failures, and with a TimeoutError when
        // the signal fires: both are transient. Anything else is a bug: let it through.
        const name = error instanceof Error ? error.name : "";
        if (!(error instanceof TypeError) && name !== "TimeoutError" && name !== "AbortError")
          throw error;
        failure = `${name}: ${/** @type {Error} */ (error).message}`;
      }
      const delay =
        attempt >= this.maxAttempts ? null : nextDelay(this.backoff, attempt, retryAfterMs);
      if (delay === null) return { status: null, data: null, attempts: attempt, failure };
      await sleep(delay);
    }
  }
}

/**
 * @param {Reply} reply
 * @param {Envelope[]} envelopes
 */
function notDelivered(reply, envelopes) {
  const what =
    envelopes.length === 1 ? `event ${envelopes[0].eventId}` : `${envelopes.length} events`;
  return new DeliveryError(
    `CT did not acknowledge ${what} after ${reply.attempts} attempt(s): ${reply.failure}`,
    {
      eventIds: envelopes.map((e) => e.eventId),
      attempts: reply.attempts,
      events: envelopes.map((e) => e.event),
    },
  );
}

/** @param {string} text */
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * Envelopes cut into batches CT accepts.
 *
 * @param {Envelope[]} envelopes
 * @returns {Envelope[][]}
 */
export function chunks(envelopes) {
  /** @type {Envelope[][]} */
  const found = [];
  /** @type {Envelope[]} */
  let current = [];
  let size = 0;
  for (const envelope of envelopes) {
    const bytes = Buffer.byteLength(envelope.body, "utf8");
    if (current.length && (current.length >= MAX_BATCH_EVENTS || size + bytes > MAX_BATCH_BYTES)) {
      found.push(current);
      current = [];
      size = 0;
    }
    current.push(envelope);
    size += bytes + 1;
  }
  if (current.length) found.push(current);
  return found;
}
