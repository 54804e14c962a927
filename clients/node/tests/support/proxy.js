// A local HTTP server in front of CT that answers from a script, then forwards: it makes CT
// look down (503), busy (429 + Retry-After), slow, or cut off, and records every attempt.
import { createServer } from "node:http";

/** @typedef {{status: number, headers?: Record<string, string>, delayMs?: number} | "forward" | "drop"} Step */
/** @typedef {{path: string, headers: import("node:http").IncomingHttpHeaders, body: Buffer, at: number}} Seen */

const FORWARDED = ["authorization", "content-type", "x-ct-signature", "x-ct-timestamp"];

/** @param {string} upstream */
export async function startProxy(upstream) {
  /** @type {{script: Step[], otherwise: Step, seen: Seen[], url: string, close: () => Promise<void>}} */
  const proxy = { script: [], otherwise: "forward", seen: [], url: "", close: async () => {} };
  const server = createServer(async (request, response) => {
    const chunks = [];
    for await (const chunk of request) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    proxy.seen.push({
      path: request.url ?? "",
      headers: request.headers,
      body,
      at: performance.now(),
    });
    const step = proxy.script.length ? /** @type {Step} */ (proxy.script.shift()) : proxy.otherwise;
    if (step === "drop") {
      request.socket.destroy();
      return;
    }
    if (step === "forward") {
      /** @type {Record<string, string>} */
      const headers = {};
      for (const name of FORWARDED) {
        const value = request.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      const answer = await fetch(upstream + request.url, { method: "POST", headers, body });
      response.writeHead(answer.status, { "Content-Type": "application/json" });
      response.end(Buffer.from(await answer.arrayBuffer()));
      return;
    }
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    if (response.destroyed) return;
    response.writeHead(step.status, {
      "Content-Type": "application/json",
      ...(step.headers ?? {}),
    });
    response.end('{"error":{"code":"scripted","message":"from the test proxy"}}');
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", () => ready(undefined)));
  const address = server.address();
  proxy.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  proxy.close = () =>
    new Promise((closed) => {
      server.closeAllConnections();
      server.close(() => closed(undefined));
    });
  return proxy;
}
