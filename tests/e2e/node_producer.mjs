// The Node client as the e2e suite's second backend producer: sends COUNT heartbeats with
// ids PREFIX-0…, then FAILURES calls of a wrapped function that throws (each reported as
// backend.fn.error), retrying long enough to ride out a stopped CT; prints the ids it sent.
// Under the suite's clock shift (tests/clock_shift moves Python's clocks, not Node's) it reads
// the same shifted clock as the CT it sends to.
import { Producer, withErrorReporting } from "../../clients/node/src/index.js";

const [url, token, secret, prefix, count, failures] = process.argv.slice(2);
const shiftMs = Number(process.env.SUITE_CLOCK_SHIFT_SECONDS ?? "0") * 1000;
const ct = new Producer({
  url, token, secret, source: "backend", now: () => Date.now() + shiftMs,
  maxAttempts: 60, backoff: { initialMs: 100, multiplier: 2, maximumMs: 1000 },
});
const ids = [];
for (let n = 0; n < Number(count); n += 1) {
  const sent = await ct.send("system.heartbeat", { system_id: "backend", version: `node-${n}` },
    { eventId: `${prefix}-${n}` });
  ids.push(sent.eventId);
}
const failing = withErrorReporting(async () => { throw new Error("e2e burst"); },
  { producer: ct, severity: "high", fnName: `${prefix}-fn` });
for (let n = 0; n < Number(failures); n += 1) {
  await failing().catch(() => undefined);
}
process.stdout.write(`${JSON.stringify({ ids })}\n`);
