// A server restart must not touch a healthy call. Three people are in a call in real headless
// Chromium (fake camera and microphone); `serve` is killed and started again on the same address
// and data. The video is peer-to-peer, so it must flow throughout: on every page the frames
// decoded from each other person keep increasing, their tile never goes away, no new
// RTCPeerConnection is created for a pair that stayed connected, and once everyone is back the
// pages show three people and no banner from the outage.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort, startServer } from "../protocol/harness.mjs";
import { connected, launch, people, watch } from "./harness.mjs";

let server, browser, listen, dataDir;
before(async () => {
  listen = `127.0.0.1:${await freePort()}`;
  dataDir = mkdtempSync(join(tmpdir(), "flowsync-restart-"));
  // The reconnect grace as in production: the restart must not be mistaken for departures.
  server = await startServer({ dataDir, listen, env: { FLOWSYNC_ROOMS__RECONNECT_GRACE: "30s" } });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A person in the call: creates the room from the front page (no `url`) or joins at `url`. */
async function person(url, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  // Test hook (not product code): count the page's RTCPeerConnections.
  await context.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    window.__pcs = 0;
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        window.__pcs += 1;
      }
    };
  });
  const page = watch(await context.newPage(), name);
  page.who = name;
  if (url) {
    await page.goto(url);
    await page.waitForSelector("#lobby:not([hidden])");
    await page.fill("#join-display-name", name);
    await page.click("#join-form button[type=submit]");
  } else {
    await page.goto(server.url + "/");
    await page.fill("#create-display-name", name);
    await page.fill("#create-room-name", "Standup");
    await page.click("#create-form button[type=submit]");
    await page.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  }
  await connected(page);
  return page;
}

/** {name: {conn, frames, call}} for every remote camera tile on a page. */
const tiles = (page) => page.$$eval(".tile-remote", (ts) => Object.fromEntries(ts.map((t) => [
  t.querySelector(".tile-name").textContent,
  { conn: t.dataset.conn, frames: Number(t.dataset.frames || 0), call: Number(t.dataset.call || 0) },
])));

const everyoneDecoding = (page, names) => page.waitForFunction((want) => want.every((n) => [...document.querySelectorAll(".tile-remote")]
  .some((t) => t.querySelector(".tile-name").textContent === n && t.dataset.conn === "connected" && Number(t.dataset.frames) > 0)),
names, { timeout: 30000 });

test("a server restart does not touch a healthy call", async () => {
  const ada = await person(null, "Ada");
  const url = ada.url();
  const pages = [ada, await person(url, "Bob"), await person(url, "Cy")];
  const names = ["Ada", "Bob", "Cy"];
  for (const p of pages) await everyoneDecoding(p, names.filter((n) => n !== p.who));

  const calls = {};
  const pcs = {};
  for (const p of pages) {
    calls[p.who] = Object.fromEntries(Object.entries(await tiles(p)).map(([n, t]) => [n, t.call]));
    pcs[p.who] = await p.evaluate(() => window.__pcs);
  }

  // Sample every page twice a second from before the kill until after everyone is back.
  const samples = [];
  let sampling = true;
  let taken = null;
  const sampler = (async () => {
    while (sampling) {
      samples.push(Object.fromEntries(await Promise.all(pages.map(async (p) => [p.who, await tiles(p)]))));
      taken?.();
      await new Promise((r) => setTimeout(r, 500)); // the sampling period
    }
  })();
  /** Resolves once `n` more samples have been taken. */
  const moreSamples = async (n) => {
    const want = samples.length + n;
    while (samples.length < want) await new Promise((r) => { taken = r; });
  };
  await moreSamples(4);

  await server.stop({ keepData: true, signal: "SIGKILL" });
  for (const p of pages) {
    await p.waitForFunction(() => document.querySelector("#conn-status")?.dataset.state !== "live", null, { timeout: 10000 });
  }
  await new Promise((r) => setTimeout(r, 2000)); // the outage: two seconds with no server
  server = await startServer({ dataDir, listen, env: { FLOWSYNC_ROOMS__RECONNECT_GRACE: "30s" } });
  for (const p of pages) {
    await connected(p);
    await p.waitForFunction(() => document.querySelectorAll("#participants li").length === 3
      && !document.querySelector("#participants .badge.joining"), null, { timeout: 20000 })
      .catch(async (e) => { throw new Error(`${p.who}: ${e.message}: ${(await people(p)).join(" | ")}`); });
  }
  await moreSamples(6);
  sampling = false;
  await sampler;

  assert.ok(samples.length >= 10, `enough samples: ${samples.length}`);
  for (const p of pages) {
    const others = names.filter((n) => n !== p.who);
    for (const n of others) {
      const series = samples.map((s) => s[p.who][n]);
      assert.ok(series.every(Boolean), `${p.who} always shows ${n}'s tile`);
      assert.ok(series.every((t) => t.call === calls[p.who][n]), `${p.who} ↔ ${n}: the same call throughout`);
      // Frames are sampled by the page once a second: over any 2.5 s the count must move on.
      for (let i = 0; i + 5 < series.length; i++) {
        assert.ok(series[i + 5].frames > series[i].frames,
          `${p.who} decodes ${n}'s video throughout: ${series.map((t) => t.frames).join(" ")}`);
      }
    }
    assert.equal(await p.evaluate(() => window.__pcs), pcs[p.who], `${p.who} created no new RTCPeerConnection`);
    assert.equal((await p.textContent("#room-error")).trim(), "", `${p.who}: no banner from the outage`);
    const problems = p.problems.filter((line) => !/WebSocket connection to .* failed/.test(line));
    assert.deepEqual(problems, [], `no script errors on ${p.who}'s page`);
  }
});
