// The Node client against a real `ct serve`: answers, typed errors, batches, retries with the
// same id and body, Retry-After, heartbeats and `withErrorReporting`.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, afterEach, describe, test } from "node:test";

import {
  AuthenticationError,
  ConflictError,
  DeliveryError,
  Producer,
  RejectedError,
  withErrorReporting,
} from "../src/index.js";
import { now, startCT, storedEvents } from "./support/ct-server.js";
import { startProxy } from "./support/proxy.js";

const FAST = { initialMs: 50, multiplier: 2, maximumMs: 5000 };
const SECRET_MESSAGE = "customer bob@example.com owes 4111 1111 1111 1111";

/** @type {Awaited<ReturnType<typeof startCT>>} */
let ct;
/** @type {Awaited<ReturnType<typeof startProxy>>} */
let proxy;

/** @param {Partial<import("../src/producer.js").ProducerOptions>} [options] */
function producer(options = {}) {
  return new Producer({
    url: ct.url,
    token: ct.token,
    secret: ct.secret,
    source: "backend",
    backoff: FAST,
    now,
    ...options,
  });
}

/** @param {string} eventId */
async function storedEvent(eventId) {
  const answer = await fetch(`${ct.url}/events/${eventId}`, {
    headers: { Authorization: `Bearer ${ct.readerToken}` },
  });
  return answer.status === 200 ? answer.json() : null;
}

/** @param {{body: Buffer}[]} seen */
const bodies = (seen) => new Set(seen.map((s) => s.body.toString("utf8")));

before(async () => {
  ct = await startCT();
});

after(async () => {
  await ct?.stop();
});

beforeEach(async () => {
  proxy = await startProxy(ct.url);
});

afterEach(async () => {
  await proxy.close();
});

describe("sending", () => {
  test("an event is stored once and a resend is a duplicate", async () => {
    const first = await producer().send("system.heartbeat", {
      system_id: "backend",
      version: "1.2",
    });
    assert.equal(first.status, 202);
    assert.equal(first.duplicate, false);
    assert.equal(first.attempts, 1);
    const stored = await storedEvent(first.eventId);
    assert.deepEqual(stored.payload, { system_id: "backend", version: "1.2" });
    assert.equal(stored.source, "backend");
    const again = await producer().send(
      "system.heartbeat",
      { system_id: "backend", version: "1.2" },
      {
        eventId: first.eventId,
        occurredAt: stored.occurred_at,
      },
    );
    assert.equal(again.status, 200);
    assert.equal(again.duplicate, true);
  });

  test("the same id with other content is a typed conflict", async () => {
    const first = await producer().heartbeat("backend", "1");
    await assert.rejects(
      producer().send(
        "system.heartbeat",
        { system_id: "backend", version: "2" },
        { eventId: first.eventId },
      ),
      (/** @type {any} */ error) => {
        assert.ok(error instanceof ConflictError);
        assert.equal(error.status, 409);
        assert.equal(error.code, "event_id_conflict");
        assert.deepEqual(error.eventIds, [first.eventId]);
        return true;
      },
    );
  });

  test("other 4xx throw with the server's code and are not retried", async () => {
    await assert.rejects(
      producer({ url: proxy.url }).send("no.such.type", {}),
      (/** @type {any} */ error) => {
        assert.ok(error instanceof RejectedError);
        assert.equal(error.status, 422);
        assert.ok(["unknown_event_type", "validation_failed"].includes(error.code));
        return true;
      },
    );
    await assert.rejects(producer({ url: proxy.url, source: "finance" }).heartbeat("finance"), {
      status: 403,
      code: "wrong_source",
    });
    assert.equal(proxy.seen.length, 2);
  });

  test("a wrong secret is an authentication error, in both signature forms", async () => {
    for (const timestamped of [true, false]) {
      await assert.rejects(
        producer({ secret: "whsec_wrong", timestamped }).heartbeat("backend"),
        (/** @type {any} */ error) => {
          assert.ok(error instanceof AuthenticationError);
          assert.equal(error.code, "bad_signature");
          return true;
        },
      );
    }
  });

  test("both signature forms are accepted", async () => {
    assert.equal(
      (await producer({ url: proxy.url, timestamped: true }).heartbeat("backend")).status,
      202,
    );
    assert.equal(
      (await producer({ url: proxy.url, timestamped: false }).heartbeat("backend")).status,
      202,
    );
    assert.ok("x-ct-timestamp" in proxy.seen[0].headers);
    assert.ok(!("x-ct-timestamp" in proxy.seen[1].headers));
  });
});

describe("batches", () => {
  test("a batch answers each event in order", async () => {
    const correlationId = `node-${randomUUID()}`;
    const stored = await producer().send(
      "system.heartbeat",
      { system_id: "backend" },
      { correlationId },
    );
    const before = await storedEvent(stored.eventId);
    const result = await producer().sendBatch([
      { type: "system.heartbeat", payload: { system_id: "backend" }, correlationId },
      {
        type: "system.heartbeat",
        payload: { system_id: "backend" },
        eventId: stored.eventId,
        occurredAt: before.occurred_at,
        correlationId,
      },
      { type: "no.such.type", payload: {}, correlationId },
    ]);
    assert.deepEqual(
      result.results.map((r) => r.status),
      [202, 200, 422],
    );
    assert.deepEqual([result.accepted, result.duplicates, result.rejected], [1, 1, 1]);
    assert.ok(
      ["unknown_event_type", "validation_failed"].includes(String(result.results[2].errorCode)),
    );
    assert.equal((await storedEvents(ct, { correlation_id: correlationId })).length, 2);
  });

  test("a large batch is cut into requests CT accepts", async () => {
    const correlationId = `node-${randomUUID()}`;
    const events = Array.from({ length: 620 }, () => ({
      type: "system.heartbeat",
      payload: { system_id: "backend" },
      correlationId,
    }));
    const result = await producer({ url: proxy.url }).sendBatch(events);
    assert.equal(result.accepted, 620);
    assert.deepEqual(
      proxy.seen.map((s) => JSON.parse(s.body.toString("utf8")).events.length),
      [500, 120],
    );
    const stored = await storedEvents(ct, { correlation_id: correlationId });
    assert.deepEqual(
      stored.map((e) => e.event_id).sort(),
      result.results.map((r) => r.eventId).sort(),
    );
  });
});

describe("retries", () => {
  test("5xx and lost connections are retried with the same id and body", async () => {
    proxy.script = [{ status: 503 }, "drop", { status: 500 }];
    const result = await producer({ url: proxy.url }).heartbeat("backend");
    assert.equal(result.status, 202);
    assert.equal(result.attempts, 4);
    assert.equal(bodies(proxy.seen).size, 1, "every attempt sends the same bytes");
    assert.equal(JSON.parse(proxy.seen[0].body.toString("utf8")).event_id, result.eventId);
    assert.ok(await storedEvent(result.eventId));
  });

  test("a timeout is retried", async () => {
    proxy.script = [{ status: 503, delayMs: 1500 }];
    const result = await producer({ url: proxy.url, timeoutMs: 300 }).heartbeat("backend");
    assert.equal(result.status, 202);
    assert.equal(result.attempts, 2);
  });

  test("Retry-After is waited for", async () => {
    proxy.script = [{ status: 429, headers: { "Retry-After": "1" } }];
    const result = await producer({ url: proxy.url }).heartbeat("backend");
    assert.equal(result.attempts, 2);
    const waited = proxy.seen[1].at - proxy.seen[0].at;
    assert.ok(waited >= 900, `retried after ${waited} ms, before Retry-After: 1`);
  });

  test("a Retry-After longer than the backoff cap ends the attempts", async () => {
    proxy.script = [{ status: 429, headers: { "Retry-After": "3600" } }];
    await assert.rejects(producer({ url: proxy.url }).heartbeat("backend"), {
      name: "DeliveryError",
      attempts: 1,
    });
    assert.equal(proxy.seen.length, 1);
  });

  test("when every attempt fails, the error carries the events to send again", async () => {
    proxy.otherwise = { status: 503 };
    /** @type {any} */
    let failure;
    await assert.rejects(
      producer({ url: proxy.url, maxAttempts: 3 }).heartbeat("backend"),
      (error) => {
        failure = error;
        return error instanceof DeliveryError;
      },
    );
    assert.equal(failure.attempts, 3);
    assert.equal(proxy.seen.length, 3);
    assert.deepEqual(
      failure.events.map((/** @type {any} */ e) => e.eventId),
      failure.eventIds,
    );
    assert.deepEqual(
      (await producer().sendBatch(failure.events)).results.map((r) => r.status),
      [202],
    );
    assert.deepEqual(
      (await producer().sendBatch(failure.events)).results.map((r) => r.status),
      [200],
    );
  });
});

describe("withErrorReporting", () => {
  /** @param {string} ref */
  async function eventWithRef(ref) {
    const events = await storedEvents(ct, { type: "backend.fn.error" });
    return events.filter((e) => e.payload.stack_ref === ref);
  }

  test("an uncaught error becomes backend.fn.error with a stack hash, and is rethrown", async () => {
    const original = new Error(SECRET_MESSAGE);
    const handler = withErrorReporting(
      async (/** @type {number} */ amount) => {
        if (amount > 0) throw original;
        return amount;
      },
      { producer: producer(), severity: "critical", fnName: "generateInvoice" },
    );
    assert.equal(await handler(0), 0);
    await assert.rejects(handler(12), (error) => error === original);
    const ref = /** @type {any} */ (original).ctStackRef;
    assert.match(ref, /^sha256:[0-9a-f]{64}$/);
    const [event, ...more] = await eventWithRef(ref);
    assert.equal(more.length, 0);
    assert.equal(event.type, "backend.fn.error");
    assert.deepEqual(event.payload, {
      fn_name: "generateInvoice",
      severity: "critical",
      stack_ref: ref,
    });
    const text = JSON.stringify(event);
    for (const leak of ["bob@example.com", "4111", "ct.test.js", "at "])
      assert.ok(!text.includes(leak), leak);
  });

  test("the function's own name is the default, and an error is reported once", async () => {
    const reporter = producer();
    async function onPayment() {
      throw new TypeError(SECRET_MESSAGE);
    }
    const outer = withErrorReporting(withErrorReporting(onPayment, { producer: reporter }), {
      producer: reporter,
      fnName: "outer",
    });
    /** @type {any} */
    let caught;
    await assert.rejects(outer(), (error) => {
      caught = error;
      return true;
    });
    const events = await eventWithRef(caught.ctStackRef);
    assert.equal(events.length, 1);
    assert.equal(events[0].payload.fn_name, "onPayment");
    assert.equal(events[0].payload.severity, "high");
  });

  test("when CT is unreachable the original error still propagates", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    proxy.otherwise = "drop";
    const original = new Error(SECRET_MESSAGE);
    const handler = withErrorReporting(
      () => {
        throw original;
      },
      { producer: producer({ url: proxy.url, maxAttempts: 1 }) },
    );
    await assert.rejects(handler(), (error) => error === original);
    assert.equal(warn.mock.callCount(), 1);
    const said = String(warn.mock.calls[0].arguments[0]);
    assert.match(said, /could not report an error to Control Tower/);
    assert.ok(!said.includes("bob@example.com"));
  });

  test("options are checked", () => {
    assert.throws(() => withErrorReporting(() => {}, /** @type {any} */ ({})), TypeError);
    assert.throws(
      () =>
        withErrorReporting(
          () => {},
          /** @type {any} */ ({ producer: producer(), severity: "urgent" }),
        ),
      RangeError,
    );
  });
});
