// ULIDs (https://github.com/ulid/spec): 48 bits of milliseconds and 80 random bits in Crockford
// base32, so ids sort by creation time. Monotonic within a process: a second id in the same
// millisecond (or after the clock stepped back) is the previous one plus one.
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RANDOM_BITS = 80n;

let lastMs = -1;
let lastRandom = 0n;

function random80() {
  return BigInt(`0x${randomBytes(10).toString("hex")}`);
}

/**
 * A new ULID, 26 characters.
 *
 * @param {number} [nowMs] the current time in milliseconds (default `Date.now()`)
 * @returns {string}
 */
export function newUlid(nowMs = Date.now()) {
  const ms = Math.floor(nowMs);
  if (ms > lastMs) {
    lastMs = ms;
    lastRandom = random80();
  } else {
    lastRandom += 1n;
    if (lastRandom >> RANDOM_BITS) {
      lastMs += 1;
      lastRandom = random80();
    }
  }
  let value = (BigInt(lastMs) << RANDOM_BITS) | lastRandom;
  let text = "";
  for (let i = 0; i < 26; i += 1) {
    text = ALPHABET[Number(value & 31n)] + text;
    value >>= 5n;
  }
  return text;
}
