// The client signs the shared vector (clients/test-vectors/signing.json) as the server does.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { sign } from "../src/index.js";

const vector = JSON.parse(
  readFileSync(new URL("../../test-vectors/signing.json", import.meta.url), "utf8"),
);

test("every case of the shared signing vector, from a string and from its bytes", () => {
  assert.ok(vector.cases.length >= 5);
  for (const { name, secret, body, timestamp, signature } of vector.cases) {
    assert.equal(sign(secret, body, timestamp), signature, name);
    assert.equal(sign(secret, Buffer.from(body, "utf8"), timestamp), signature, name);
  }
});
