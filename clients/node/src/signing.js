// The X-CT-Signature of a body, exactly as docs/ingest.md §3 defines it.
import { createHmac } from "node:crypto";

export const SIGNATURE_HEADER = "X-CT-Signature";
export const TIMESTAMP_HEADER = "X-CT-Timestamp";

/**
 * `sha256=<hex HMAC-SHA256>` of the body's bytes (or of `"{timestamp}.{body}"`), keyed with the
 * secret's UTF-8 bytes. Sign the bytes you send: a string is signed as its UTF-8 encoding.
 *
 * @param {string} secret the producer's signing secret (`whsec_…`)
 * @param {string | Uint8Array} body the exact request body
 * @param {string | null} [timestamp] unix seconds, also sent as `X-CT-Timestamp`
 * @returns {string}
 */
export function sign(secret, body, timestamp = null) {
  const hmac = createHmac("sha256", Buffer.from(secret, "utf8"));
  if (timestamp !== null && timestamp !== undefined) {
    hmac.update(Buffer.from(`${timestamp}.`, "ascii"));
  }
  hmac.update(typeof body === "string" ? Buffer.from(body, "utf8") : body);
  return `sha256=${hmac.digest("hex")}`;
}
