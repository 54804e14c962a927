// The client's pieces, without a server: ids, backoff, Retry-After, batching, stack refs.
import assert from "node:assert/strict";
import { test } from "node:test";

import { newUlid, Producer, stackRef } from "../src/index.js";
import { chunks, MAX_BATCH_BYTES, MAX_BATCH_EVENTS } from "../src/producer.js";
import { nextDelay, parseRetryAfter } from "../src/retry.js";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

test("ULIDs are valid, unique and sorted by creation, even within a millisecond", () => {
  const ids = Array.from({ length: 2000 }, () => newUlid());
  assert.ok(ids.every((id) => ULID.test(id)));
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test("a ULID's first 10 characters are its time", () => {
  const id = newUlid(Date.UTC(2030, 0, 1));
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const ms = [...id.slice(0, 10)].reduce((value, c) => value * 32 + alphabet.indexOf(c), 0);
  assert.ok(ms >= Date.UTC(2030, 0, 1), "monotonic: never before the time asked");
});

test("backoff grows with jitter and is capped; Retry-After replaces it", () => {
  const backoff = { initialMs: 1000, multiplier: 2, maximumMs: 5000 };
  for (const [attempt, ceiling] of [
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 5000],
    [9, 5000],
  ]) {
    const waits = Array.from({ length: 50 }, () => nextDelay(backoff, attempt, null) ?? -1);
    assert.ok(
      waits.every((w) => w >= ceiling / 2 && w <= ceiling),
      `attempt ${attempt}`,
    );
    assert.ok(new Set(waits).size > 1, "jittered");
  }
  const waits = Array.from({ length: 20 }, () => nextDelay(backoff, 1, 3000) ?? -1);
  assert.ok(waits.every((w) => w >= 3000 && w <= 4000));
  assert.equal(nextDelay(backoff, 1, 6000), null, "a Retry-After over the cap ends the attempts");
});

test("Retry-After in seconds or as an HTTP date", () => {
  const now = Date.UTC(2026, 10, 26, 10, 0, 0);
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter(new Date(now + 20000).toUTCString(), now), 20000);
  assert.equal(parseRetryAfter(new Date(now - 20000).toUTCString(), now), 0);
  assert.equal(parseRetryAfter("soon", now), null);
  assert.equal(parseRetryAfter("-1", now), null);
  assert.equal(parseRetryAfter(null, now), null);
});

test("batches are cut to what CT accepts", () => {
  const envelope = (/** @type {number} */ size) => ({
    eventId: "x",
    body: "x".repeat(size),
    event: { type: "x.y" },
  });
  const small = Array.from({ length: MAX_BATCH_EVENTS * 2 + 1 }, () => envelope(2));
  assert.deepEqual(
    chunks(small).map((c) => c.length),
    [MAX_BATCH_EVENTS, MAX_BATCH_EVENTS, 1],
  );
  const big = Array.from({ length: 7 }, () => envelope(Math.floor(MAX_BATCH_BYTES / 3)));
  assert.deepEqual(
    chunks(big).map((c) => c.length),
    [2, 2, 2, 1],
  );
});

test("an envelope is compact UTF-8 JSON with its defaults filled in, serialised once", () => {
  const producer = new Producer({
    url: "http://127.0.0.1:9",
    token: "ct_T",
    secret: "whsec_S",
    source: "backend",
  });
  const sent = producer.envelope({
    type: "backend.fn.error",
    payload: { note: "café" },
    correlationId: "run-1",
  });
  const document = JSON.parse(sent.body);
  assert.ok(ULID.test(sent.eventId));
  assert.equal(document.event_id, sent.eventId);
  assert.match(document.occurred_at, /Z$/);
  assert.equal(document.source, "backend");
  assert.equal(document.correlation_id, "run-1");
  assert.ok(sent.body.includes("café"), "UTF-8, not \\u escapes");
  assert.equal(
    producer.envelope(sent.event).body,
    sent.body,
    "the filled-in event is the same bytes",
  );
});

test("a producer never shows its credentials", () => {
  const producer = new Producer({
    url: "http://127.0.0.1:9",
    token: "ct_TOKEN",
    secret: "whsec_SECRET",
    source: "backend",
  });
  const shown = JSON.stringify(producer) + String(Object.values(producer));
  assert.ok(!shown.includes("TOKEN"));
  assert.ok(!shown.includes("SECRET"));
  assert.throws(
    () => new Producer(/** @type {any} */ ({ url: "http://x", token: "t", secret: "s" })),
    TypeError,
  );
});

/** @param {new (message: string) => Error} Kind */
function fail(Kind) {
  throw new Kind("customer bob@example.com, card 4111 1111 1111 1111");
}

/** @param {new (message: string) => Error} Kind */
function refOf(Kind) {
  try {
    fail(Kind);
  } catch (error) {
    return stackRef(error);
  }
  throw new Error("unreachable");
}

test("a stack ref names the failure, not its message", () => {
  const [first, again, other] = [TypeError, TypeError, RangeError].map(refOf);
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  assert.equal(again, first, "the same failure has the same reference");
  assert.notEqual(other, first);
  const a = new Error("one secret");
  const b = new Error("another secret");
  b.stack = a.stack?.replace("one secret", "another secret");
  assert.equal(stackRef(a), stackRef(b), "the message does not change the reference");
});
