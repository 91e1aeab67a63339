// A team's own room in real headless Chromium against the real binary: a standing room made on
// the home page opens at /r/<slug>; the lobby shows who is inside; closing the tab and opening
// the link again resumes the same participant (no ghost tile, no second "joined" line); the
// host link makes whoever opens it host.
import { test } from "node:test";
import assert from "node:assert/strict";

import { browserSuite, connected, people, watch } from "./harness.mjs";

const suite = browserSuite();

async function newPage() {
  const context = await suite.browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: suite.server.url });
  return watch(await context.newPage());
}

const joinedLines = (page, name) => page.$$eval("#messages li", (l, n) => l.filter((x) => x.textContent.includes(`${n} joined`)).length, name);

test("a standing room: /r/<slug>, who is inside, close the tab and come back, the host link", async () => {
  const host = await newPage();
  await host.goto(suite.server.url + "/");
  await host.fill("#create-display-name", "Ada");
  await host.fill("#create-room-name", "Design Team");
  await host.check("#create-standing");
  await host.fill("#create-slug", "design-team");
  await host.click("#create-form button[type=submit]");
  await host.waitForURL(/\/r\/design-team$/);
  await connected(host);
  const invite = await host.inputValue("#invite-link");
  assert.match(invite, /\/r\/design-team$/);
  await host.click("#tab-people");
  assert.equal(await host.isVisible("#host-link-button"), true, "the host sees the host link");

  // The lobby says who is inside before joining.
  const guest = await newPage();
  await guest.goto(invite);
  await guest.waitForFunction(() => /Inside now: Ada \(1\)/.test(document.querySelector("#lobby-inside")?.textContent || ""));
  await guest.fill("#join-display-name", "Bob");
  await guest.click("#join-form button[type=submit]");
  await connected(guest);
  await host.waitForFunction(() => document.querySelectorAll("#participants li").length === 2);
  assert.match(await guest.textContent("#timer-guest-hint"), /Ada is host/);

  // Bob closes the tab and opens the link again in the same browser: the same participant.
  const context = guest.context();
  await guest.close();
  const again = watch(await context.newPage());
  await again.goto(invite);
  await again.waitForSelector("#resume-button", { state: "visible" });
  assert.match(await again.textContent("#resume-button"), /Rejoin as Bob/);
  await again.click("#resume-button");
  await connected(again);
  await again.waitForFunction(() => document.querySelectorAll("#participants li").length === 2);
  assert.equal((await people(host)).filter((p) => p.includes("Bob")).length, 1, "no ghost tile: " + (await people(host)).join(" | "));
  assert.equal(await joinedLines(host, "Bob"), 1, "one joined line");

  // The host link, copied by the host, makes Cy host.
  await host.click("#host-link-button");
  await host.waitForFunction(() => /Host link/.test(document.querySelector("#host-tools-status")?.textContent || ""));
  const status = await host.textContent("#host-tools-status");
  const hostLink = /copied/.test(status) ? await host.evaluate(() => navigator.clipboard.readText()) : status.replace(/^Host link: /, "").trim();
  assert.match(hostLink, /\/r\/design-team#host=[A-Za-z0-9_-]{22}$/);
  const cy = await newPage();
  await cy.goto(hostLink);
  await cy.waitForSelector("#join-form", { state: "visible" });
  assert.equal(new URL(cy.url()).hash, "", "the key is taken off the address bar");
  await cy.fill("#join-display-name", "Cy");
  await cy.click("#join-form button[type=submit]");
  await connected(cy);
  await cy.waitForSelector("#timer-start", { state: "visible" });
  await host.waitForFunction(() => /Cy is now the host/.test(document.querySelector("#room-status")?.textContent || ""));
  assert.equal(await host.isVisible("#timer-start"), false, "Ada is a guest now");

  for (const p of [host, again, cy]) assert.deepEqual(p.problems, [], `no console errors on ${p.url()}`);
  for (const p of [host, again, cy]) await p.context().close();
});

test("join as someone else, and an unknown /r/ link", async () => {
  const host = await newPage();
  await host.goto(suite.server.url + "/");
  await host.fill("#create-display-name", "Dee");
  await host.click("#create-form button[type=submit]");
  await host.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  await connected(host);
  const invite = await host.inputValue("#invite-link");
  const context = host.context();
  await host.close();
  const other = watch(await context.newPage());
  await other.goto(invite);
  await other.waitForSelector("#resume-other", { state: "visible" });
  await other.click("#resume-other");
  await other.fill("#join-display-name", "Eli");
  await other.click("#join-form button[type=submit]");
  await connected(other);
  assert.match(await other.textContent("#room-whoami"), /as Eli/);

  const lost = watch(await context.newPage());
  await lost.goto(suite.server.url + "/r/no-such-room");
  await lost.waitForFunction(() => /No room has the link \/r\/no-such-room/.test(document.querySelector("#notice")?.textContent || ""));
  assert.deepEqual(other.problems, []);
  await context.close();
});
