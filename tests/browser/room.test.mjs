// The pages in real headless Chromium against the real binary: create a room from the home page,
// join from the invite link in a second browser, see each other, chat live, share the timer,
// and end the room — with no console errors (a CSP violation would be one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { freePort, joinRoom, startServer } from "../protocol/harness.mjs";
import { browserSuite, people, watch } from "./harness.mjs";

const suite = browserSuite();

async function newPage() {
  const context = await suite.browser.newContext();
  return watch(await context.newPage());
}

const text = (page, sel) => page.textContent(sel).then((t) => (t || "").trim());

test("create, join by invite link, chat, share the timer, end", async () => {
  const host = await newPage();
  await host.goto(suite.server.url + "/");
  await host.fill("#create-display-name", "Ada");
  await host.fill("#create-room-name", "Deep work");
  await host.click("#create-form button[type=submit]");
  await host.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  await host.waitForFunction(() => document.querySelector("#conn-text")?.textContent.includes("Connected"));
  const invite = await host.inputValue("#invite-link");
  assert.match(invite, /\/room\/[A-Z0-9]{6}$/);

  const guest = await newPage();
  await guest.goto(invite);
  await guest.fill("#join-display-name", "Bob");
  await guest.click("#join-form button[type=submit]");
  await guest.waitForFunction(() => document.querySelector("#conn-text")?.textContent.includes("Connected"));
  await host.waitForFunction(() => document.querySelectorAll("#participants li").length === 2);
  // "Connected" shows before the snapshot's participant list is rendered: wait for it too.
  await guest.waitForFunction(() => document.querySelectorAll("#participants li").length >= 2, null, { timeout: 5000 }).catch(() => {});
  assert.deepEqual((await people(guest)).length, 2);
  assert.ok((await people(host)).some((p) => p.includes("Bob")), (await people(host)).join(" | "));

  // Live chat both ways.
  await guest.fill("#chat-input", "hello from Bob");
  await guest.press("#chat-input", "Enter");
  await host.waitForFunction(() => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes("hello from Bob")));

  // The host starts the shared timer; the guest sees it run, in step.
  assert.equal(await text(guest, "#timer-clock").then((t) => t.replace(/\s/g, "")), "25:00");
  await host.click("#timer-start");
  await guest.waitForFunction(() => document.querySelector("#timer-clock")?.textContent.replace(/\s/g, "") !== "25:00", null, { timeout: 5000 });
  const [a, b] = await Promise.all([text(host, "#timer-clock"), text(guest, "#timer-clock")]);
  const secs = (t) => { const [m, s] = t.replace(/\s/g, "").split(":").map(Number); return m * 60 + s; };
  assert.ok(Math.abs(secs(a) - secs(b)) <= 1, `host ${a} vs guest ${b}`);
  assert.equal(await guest.isVisible("#timer-start"), false, "guests have no timer controls");

  // The host ends the room; the guest is told.
  host.once("dialog", (d) => d.accept());
  await host.click("#tab-people");
  await host.click("#end-button");
  await guest.waitForFunction(() => !document.querySelector("#notice")?.hidden && /ended/i.test(document.querySelector("#notice-title")?.textContent || ""), null, { timeout: 5000 });

  assert.deepEqual(host.problems, [], "no console errors on the host page");
  assert.deepEqual(guest.problems, [], "no console errors on the guest page");
});

test("a seat taken without connecting shows as joining…, and the host can remove it", async () => {
  const host = await newPage();
  await host.goto(suite.server.url + "/");
  await host.fill("#create-display-name", "Ada");
  await host.click("#create-form button[type=submit]");
  await host.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  await host.waitForFunction(() => document.querySelector("#conn-text")?.textContent.includes("Connected"));
  const code = host.url().split("/").pop();

  // Someone joins over the API and never connects: they cannot read the chat, and they are seen.
  await joinRoom(suite.server, code, { display_name: "Eve" });
  await host.waitForFunction(() => [...document.querySelectorAll("#participants li")].some((li) => /Eve.*joining/.test(li.textContent)), null, { timeout: 5000 });
  host.once("dialog", (d) => d.accept());
  await host.click("#tab-people");
  await host.click("#participants li.pending button[data-action=kick]");
  await host.waitForFunction(() => ![...document.querySelectorAll("#participants li")].some((li) => li.textContent.includes("Eve")), null, { timeout: 5000 });
  assert.deepEqual(host.problems, [], "no console errors on the host page");
});

test("a line sent while the server is down is sent again after it returns, and stored once", async () => {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "flowsync-outbox-"));
  const listen = `127.0.0.1:${port}`;
  let own = await startServer({ dataDir, listen });
  const page = await newPage();
  try {
    await page.goto(own.url + "/");
    await page.fill("#create-display-name", "Ada");
    await page.click("#create-form button[type=submit]");
    await page.waitForURL(/\/room\/[A-Z0-9]{6}$/);
    await page.waitForFunction(() => document.querySelector("#conn-text")?.textContent.includes("Connected"));
    const code = page.url().split("/").pop();
    const token = await page.evaluate(() => JSON.parse(Object.values(sessionStorage).find((v) => v.includes("token")) || "{}").token);

    await own.stop({ keepData: true, signal: "SIGKILL" });
    await page.waitForFunction(() => document.querySelector("#conn-status")?.dataset.state !== "live", null, { timeout: 10000 });
    await page.fill("#chat-input", "sent while down");
    await page.press("#chat-input", "Enter");
    await page.waitForFunction(() => /Not confirmed yet/.test(document.querySelector("#chat-error")?.textContent || ""), null, { timeout: 10000 });

    own = await startServer({ dataDir, listen });
    await page.waitForFunction(
      () => [...document.querySelectorAll("#messages li")].filter((li) => li.textContent.includes("sent while down")).length === 1,
      null,
      { timeout: 20000 },
    );
    assert.ok(token, "the page keeps its session token");
    const r = await fetch(`${own.url}/api/rooms/${code}/messages`, { headers: { authorization: `Bearer ${token}` } });
    const lines = (await r.json()).messages.filter((m) => m.message === "sent while down");
    assert.equal(lines.length, 1, "stored once");
  } finally {
    await page.context().close();
    await own.stop();
  }
});
