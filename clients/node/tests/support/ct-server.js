// A real Control Tower for the tests: `ct token create` and `ct serve` on a fresh SQLite store,
// run by the repository's Python (CT_PYTHON, default ../../.venv/bin/python).
import { spawn, execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, open } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../../..");
const PYTHON = process.env.CT_PYTHON || join(REPO_ROOT, ".venv/bin/python");
const CLI = ["-m", "control_tower.cli.main"];
const READY_TIMEOUT_MS = 60000;

// `python -m tests.clock_shift` moves every Python process's clock, not Node's: the clients'
// clock (`now`) moves by the same amount so their signature timestamps agree with CT's.
export const CLOCK_SHIFT_MS = Number(process.env.SUITE_CLOCK_SHIFT_SECONDS || 0) * 1000;
export const now = () => Date.now() + CLOCK_SHIFT_MS;

async function freePort() {
  const server = createServer();
  await new Promise((ready) => server.listen(0, "127.0.0.1", () => ready(undefined)));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise((closed) => server.close(() => closed(undefined)));
  return port;
}

/**
 * @param {Record<string, string>} env
 * @param {string[]} args
 */
async function token(env, ...args) {
  const { stdout } = await run(PYTHON, [...CLI, "token", "create", "--json", ...args], {
    env,
    cwd: REPO_ROOT,
  });
  return JSON.parse(stdout);
}

/**
 * Start CT; `stop()` ends it and removes its files.
 *
 * @returns {Promise<{url: string, token: string, secret: string, readerToken: string, log: string, stop: () => Promise<void>}>}
 */
export async function startCT() {
  const dir = await mkdtemp(join(tmpdir(), "ct-node-"));
  /** @type {Record<string, string>} */
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith("CT_") && value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    CT_DATABASE_URL: `sqlite:///${join(dir, "ct.sqlite3")}`,
    CT_DATA_DIR: join(dir, "data"),
    CT_SECRET_KEY: randomBytes(24).toString("hex"),
    CT_SCHEDULER_ENABLED: "false",
    PYTHONUNBUFFERED: "1",
  });
  const producer = await token(
    env,
    "--name",
    "node",
    "--role",
    "producer",
    "--source",
    "backend",
    "--rate-per-minute",
    "100000",
    "--burst",
    "100000",
  );
  const reader = await token(env, "--name", "node-reader", "--role", "maintainer");
  const port = await freePort();
  const log = join(dir, "ct-serve.log");
  const logFile = await open(log, "w");
  const child = spawn(PYTHON, [...CLI, "serve", "--host", "127.0.0.1", "--port", String(port)], {
    env,
    cwd: REPO_ROOT,
    detached: true,
    stdio: ["ignore", logFile.fd, logFile.fd],
  });
  await logFile.close();
  const exited = new Promise((done) => child.once("exit", done));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    try {
      process.kill(-(/** @type {number} */ (child.pid)), "SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-(/** @type {number} */ (child.pid)), "SIGKILL");
      } catch {
        /* gone */
      }
    }, 10000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`ct serve exited with ${child.exitCode}; see ${log}`);
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ct serve not ready after ${READY_TIMEOUT_MS} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    token: producer.token,
    secret: producer.hmac_secret,
    readerToken: reader.token,
    log,
    stop,
  };
}

/**
 * Stored events matching a query (GET /events, every page), newest first.
 *
 * @param {{url: string, readerToken: string}} ct
 * @param {Record<string, string>} query
 * @returns {Promise<any[]>}
 */
export async function storedEvents(ct, query) {
  const found = [];
  const params = new URLSearchParams({ ...query, limit: "500" });
  for (;;) {
    const answer = await fetch(`${ct.url}/events?${params}`, {
      headers: { Authorization: `Bearer ${ct.readerToken}` },
    });
    if (answer.status !== 200)
      throw new Error(`GET /events: ${answer.status} ${await answer.text()}`);
    const page = await answer.json();
    found.push(...page.items);
    if (!page.next_cursor) return found;
    params.set("cursor", page.next_cursor);
  }
}
