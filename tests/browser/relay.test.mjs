// Calls through the embedded TURN server, in real headless Chromium: two people with
// `?relay=1` (iceTransportPolicy "relay", so no direct path is even tried) connect and decode
// each other's video. This is done once through TURN over UDP and once through TURN over TLS on
// the HTTPS port (`?turn=udp` / `?turn=tls` narrow the ICE servers to one transport). Each
// page's selected candidate pair must be a relayed one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";

import { startServer } from "../protocol/harness.mjs";
import { joinAs, launch } from "./harness.mjs";

let server, browser;
before(async () => {
  server = await startServer({
    env: {
      FLOWSYNC_TLS__MODE: "self-signed",
      FLOWSYNC_TLS__DOMAINS: "127.0.0.1",
      FLOWSYNC_SERVER__HTTPS_LISTEN: "127.0.0.1:0",
      FLOWSYNC_TURN__MODE: "embedded",
      FLOWSYNC_TURN__LISTEN: "127.0.0.1:0",
      FLOWSYNC_TURN__RELAY_PORTS: "46000-46199",
    },
  });
  browser = await launch(["--ignore-certificate-errors"]);
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function person(url, name, problems) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push(`${name}: ${e}`));
  return joinAs(page, url, name);
}

async function relayedVideoFrom(page, name) {
  await page.waitForFunction((n) => [...document.querySelectorAll(".tile-remote")].some((t) =>
    t.querySelector(".tile-name").textContent === n && t.dataset.conn === "connected"
      && Number(t.dataset.frames) > 0 && t.dataset.relayed === "1"), name, { timeout: 30000 })
    .catch(async (err) => {
      const tiles = await page.$$eval(".tile-remote", (ts) => ts.map((t) => ({ ...t.dataset })));
      throw new Error(`no relayed video from ${name}: ${err.message} ${JSON.stringify(tiles)}`);
    });
}

for (const transport of ["udp", "tls"]) {
  test(`two relay-only participants connect through TURN over ${transport}`, async () => {
    const problems = [];
    // The server's certificate is self-signed: this process trusts it for the room set-up call.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    const res = await fetch(`${server.url}/api/rooms`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ display_name: "Setup", name: `Relay ${transport}` }),
    });
    assert.equal(res.status, 201);
    const { room } = await res.json();
    const url = `${server.url}/room/${room.code}?relay=1&turn=${transport}`;
    const ada = await person(url, "Ada", problems);
    const bob = await person(url, "Bob", problems);
    await relayedVideoFrom(ada, "Bob");
    await relayedVideoFrom(bob, "Ada");
    assert.deepEqual(problems, []);
    await ada.context().close();
    await bob.context().close();
  });
}
