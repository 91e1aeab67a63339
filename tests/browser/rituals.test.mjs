// The co-working ritual in real headless Chromium: three people join a room whose host is a
// socket.io client driving the timer. Goals appear under tiles and in People on every page;
// when the work block ends the check-in card asks exactly those with a goal (keyboard
// reachable, without taking focus); answers become chat lines; "Not now" then "carry over"
// moves a goal to the next block; the Today panel counts the day. Then the focus rules: at the
// block's start every microphone is muted (the listener hears silence, then the one who
// unmutes), chat stays quiet until the break, the break banner, statuses (chosen, and away for
// a tab hidden through the whole block). Screenshots: rituals-goals, rituals, focus-break.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join as joinPath } from "node:path";

import { axe, browserSuite, connected, joinAs, watch } from "./harness.mjs";
import { call, createRoom, enter, next } from "../protocol/harness.mjs";

const SHOTS = process.env.FLOWSYNC_TEST_SCREENSHOTS || new URL("./artifacts", import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });
const suite = browserSuite();

async function join(url, name, { listen = false } = {}) {
  const context = await suite.browser.newContext({ viewport: { width: 1280, height: 720 } });
  // A listening page keeps its peer connections where the test can read what it receives.
  if (listen) {
    await context.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      window.__pcs = [];
      window.RTCPeerConnection = function RTCPeerConnection(...args) {
        const pc = new Native(...args);
        window.__pcs.push(pc);
        return pc;
      };
      window.RTCPeerConnection.prototype = Native.prototype;
      Object.setPrototypeOf(window.RTCPeerConnection, Native);
    });
  }
  return joinAs(watch(await context.newPage(), name), url, name);
}

/** The goal shown under `name`'s tile on `page` ('' when none). */
const tileGoal = (page, name) => page.evaluate((n) => {
  const tile = [...document.querySelectorAll(".tile")].find((t) => t.querySelector(".tile-name")?.textContent.startsWith(n));
  const goal = tile?.querySelector(".tile-goal");
  return goal && !goal.hidden ? goal.textContent : "";
}, name);

const waitTileGoal = (page, name, text) => page.waitForFunction(([n, t]) => {
  const tile = [...document.querySelectorAll(".tile")].find((x) => x.querySelector(".tile-name")?.textContent.startsWith(n));
  const goal = tile?.querySelector(".tile-goal");
  return !!goal && !goal.hidden && goal.textContent === t;
}, [name, text]);

/** The loudest fresh audio level `page` receives from anyone over `ms` (0: silence). */
const heard = (page, ms = 2500) => page.evaluate(async (span) => {
  let max = 0;
  const end = Date.now() + span;
  while (Date.now() < end) {
    for (const pc of window.__pcs) {
      for (const r of pc.getReceivers()) {
        if (!r.track || r.track.kind !== "audio") continue;
        for (const src of r.getSynchronizationSources()) {
          const fresh = Math.abs(Date.now() - src.timestamp) < 500 || Math.abs(performance.now() - src.timestamp) < 500;
          if (fresh) max = Math.max(max, src.audioLevel || 0);
        }
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return max;
}, ms);

const chatHas = (page, text) => page.waitForFunction((t) =>
  [...document.querySelectorAll("#messages li")].some((li) => li.textContent.includes(t)), text);

async function setGoal(page, text) {
  await page.fill("#goal-input", text);
  await page.press("#goal-input", "Enter");
  await page.waitForFunction((t) => document.querySelector("#goal-status").textContent.startsWith("Goal set") || document.querySelector("#goal-input").value === t, text);
}

test("goals under tiles, the check-in card at the block's end, carry over, Today", async () => {
  const host = await createRoom(suite.server, {
    name: "Writing sprint",
    timer: { work_seconds: 4, short_break_seconds: 600, long_break_seconds: 600, long_break_every: 4, auto_start: true },
  });
  const h = await enter(suite.server, host.token);
  const url = `${suite.server.url}/room/${host.room_code}`;
  const [ana, bo, cy] = [await join(url, "Ana"), await join(url, "Bo"), await join(url, "Cy")];
  try {
    // Ana and Bo set goals; everyone sees them under the tiles and in People.
    await setGoal(ana, "Draft the intro");
    await setGoal(bo, "Fix the flaky test");
    for (const page of [ana, bo, cy]) {
      await waitTileGoal(page, "Ana", "Draft the intro");
      await waitTileGoal(page, "Bo", "Fix the flaky test");
      assert.equal(await tileGoal(page, "Cy"), "");
    }
    await cy.waitForFunction(() => [...document.querySelectorAll("#participants li")].some((li) => li.textContent.includes("Goal: Draft the intro")));
    await cy.screenshot({ path: joinPath(SHOTS, "rituals-goals.png") });
    // The label says which block the goal is for.
    assert.equal(await ana.textContent("#goal-label"), "Your goal for this work block");
    assert.equal(await ana.textContent("#goal-save"), "Change");

    // The block runs out: the card asks Ana and Bo, once, and leaves focus where it was.
    await cy.focus("#chat-input");
    await bo.focus("#chat-input");
    assert.equal((await call(h.socket, "start-timer", {})).ok, true);
    await next(h.socket, "timer-update", (t) => t.reason === "completed", 10000);
    for (const page of [ana, bo]) {
      await page.waitForSelector("#checkin-card:not([hidden])");
      assert.equal(await page.textContent("#checkin-goal"), page === ana ? "Draft the intro" : "Fix the flaky test");
    }
    assert.equal(await bo.evaluate(() => document.activeElement.id), "chat-input", "the card does not take focus");
    assert.equal(await cy.isHidden("#checkin-card"), true, "no goal, no card");
    assert.equal(await ana.textContent("#goal-label"), "Your goal for the next work block");
    // The ended block's goals leave the tiles.
    await cy.waitForFunction(() => [...document.querySelectorAll(".tile-goal")].every((g) => g.hidden));
    await axe(ana, "the room with the check-in card");
    await ana.screenshot({ path: joinPath(SHOTS, "rituals.png") });

    // Ana answers with the keyboard: from the note field, Shift+Tab back to "Done", Enter.
    await ana.fill("#checkin-note", "and the outline");
    for (let i = 0; i < 3; i += 1) await ana.keyboard.press("Shift+Tab");
    assert.equal(await ana.evaluate(() => document.activeElement.dataset.outcome), "done");
    await ana.keyboard.press("Enter");
    await ana.waitForSelector("#checkin-card", { state: "hidden" });
    for (const page of [ana, bo, cy]) await chatHas(page, "Ana ✓ Draft the intro — and the outline");

    // Bo dismisses the card and carries the goal over to the next block in one click.
    await bo.click("#checkin-hide");
    await bo.waitForSelector("#goal-carry:not([hidden])");
    assert.equal(await bo.textContent("#goal-carry-text"), "Fix the flaky test");
    await bo.click("#goal-carry");
    for (const page of [ana, cy]) await waitTileGoal(page, "Bo", "Fix the flaky test");
    assert.equal(await bo.isHidden("#goal-carry"), true);

    // Today: one block, three goals (two of the first block, one carried), one done.
    for (const page of [ana, cy]) {
      await page.waitForFunction(() => document.querySelector("#today-summary").textContent === "1 block · 3 goals · 1 done");
    }
    await cy.click("#today summary");
    const lines = await cy.$$eval("#today-goals li", (l) => l.map((x) => x.textContent.replace(/\s+/g, " ").trim()));
    assert.deepEqual(lines, ["✓ Ana Draft the intro — and the outline", "· Bo Fix the flaky test", "· Bo Fix the flaky test"]);
    await axe(cy, "the room with Today open");

    // Nobody is asked twice: Ana, who answered, reloads during the break and is not asked.
    await ana.reload();
    await connected(ana);
    assert.equal(await ana.isHidden("#checkin-card"), true);
    for (const page of [ana, bo, cy]) assert.deepEqual(page.problems, []);
  } finally {
    h.socket.close();
    for (const page of [ana, bo, cy]) await page.context().close();
  }
});

test("focus rules and status: muted at work start, quiet chat, the break banner", async () => {
  const host = await createRoom(suite.server, {
    name: "Quiet hours",
    timer: { work_seconds: 20, short_break_seconds: 600, long_break_seconds: 600, long_break_every: 4, auto_start: true },
  });
  const h = await enter(suite.server, host.token);
  const url = `${suite.server.url}/room/${host.room_code}`;
  const [ana, bo, cy] = [await join(url, "Ana", { listen: true }), await join(url, "Bo"), await join(url, "Cy")];
  const badges = (page, name) => page.$$eval("#participants li", (l, n) =>
    (l.find((li) => li.querySelector(".participant-name")?.textContent.startsWith(n))?.textContent || ""), name);
  const tileStatus = (page, name, want) => page.waitForFunction(([n, w]) => [...document.querySelectorAll(".tile")]
    .find((t) => t.querySelector(".tile-name")?.textContent.startsWith(n))?.querySelector(".tile-status")?.textContent === w, [name, want]);
  try {
    const set = await call(h.socket, "set-focus-policy", { mute_at_work_start: true, quiet_chat: true, break_banner: true });
    assert.equal(set.ok, true);
    // Everyone knows the rules from the room's facts.
    await cy.waitForFunction(() => document.querySelector("#room-facts").textContent.includes("microphones are muted when a work block starts"));
    assert.equal(await ana.getAttribute("#mic-button", "aria-pressed"), "true");
    // Bo's tab is in the background when the block starts (and stays there through it).
    await bo.evaluate(() => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      document.dispatchEvent(new Event("visibilitychange"));
    });
    // Ana hears the others (the fake microphones beep) before the block.
    await ana.waitForFunction(() => window.__pcs.some((pc) => pc.connectionState === "connected"));
    assert.ok(await heard(ana, 3000) > 0, "sound before the work block");

    // The block starts: every microphone is muted, and the peers see it.
    await ana.click("#tab-people");
    assert.equal((await call(h.socket, "start-timer", {})).ok, true);
    for (const page of [ana, bo, cy]) {
      await page.waitForFunction(() => document.querySelector("#mic-button").getAttribute("aria-pressed") === "false");
    }
    await ana.waitForFunction(() => [...document.querySelectorAll("#participants li")].filter((li) => li.textContent.includes("Mic off")).length === 3);
    await tileStatus(cy, "Ana", "Focusing");
    // On the peers' side the tracks are silent.
    assert.equal(await heard(ana), 0, "silence once everyone is muted");

    // Bo unmutes: the others see his microphone on and hear him, and nobody is told anything else.
    await bo.click("#mic-button");
    await ana.waitForFunction(() => ![...document.querySelectorAll("#participants li")]
      .find((li) => li.querySelector(".participant-name").textContent.startsWith("Bo")).textContent.includes("Mic off"));
    assert.ok(await heard(ana, 3000) > 0, "Bo is heard again");
    assert.doesNotMatch(await ana.textContent("#toasts"), /Bo/);
    assert.doesNotMatch(await ana.textContent("#hand-announce"), /Bo/);

    // Quiet chat: Cy's line arrives, Ana's unread count waits for the break.
    await cy.fill("#chat-input", "quick question for later");
    await cy.press("#chat-input", "Enter");
    await ana.waitForFunction(() => [...document.querySelectorAll("#messages .message-body")].some((b) => b.textContent === "quick question for later"));
    assert.equal(await ana.isHidden("#unread"), true, "no unread count during a quiet work block");
    assert.doesNotMatch(await ana.title(), /^\(1\)/);

    // Cy steps away on purpose; everyone sees it.
    await cy.selectOption("#status-select", "away");
    await ana.waitForFunction(() => [...document.querySelectorAll("#participants li")]
      .find((li) => li.querySelector(".participant-name").textContent.startsWith("Cy")).textContent.includes("Away"));
    await tileStatus(bo, "Cy", "Away");

    // The break: the banner, the waiting count, statuses follow the timer.
    await next(h.socket, "timer-update", (t) => t.reason === "completed", 30000);
    for (const page of [ana, bo, cy]) {
      await page.waitForSelector("#break-banner:not([hidden])");
      assert.match(await page.textContent("#break-banner"), /^Break — \d+:\d\d, you may unmute$/);
    }
    await ana.waitForFunction(() => document.querySelector("#unread").textContent === "1" && !document.querySelector("#unread").hidden);
    assert.match(await ana.textContent("#room-status"), /1 chat message arrived during the work block/);
    assert.match(await badges(cy, "Ana"), /On break/);
    assert.match(await badges(ana, "Cy"), /Away/);
    // Bo's tab was hidden through the whole block: he shows away, until he looks again.
    await ana.waitForFunction(() => [...document.querySelectorAll("#participants li")]
      .find((li) => li.querySelector(".participant-name").textContent.startsWith("Bo")).textContent.includes("Away"));
    await bo.evaluate(() => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await ana.waitForFunction(() => [...document.querySelectorAll("#participants li")]
      .find((li) => li.querySelector(".participant-name").textContent.startsWith("Bo")).textContent.includes("On break"));
    await axe(ana, "the room during a break with the banner");
    await ana.screenshot({ path: joinPath(SHOTS, "focus-break.png") });

    // The host turns the banner off: it goes on every page.
    assert.equal((await call(h.socket, "set-focus-policy", { break_banner: false })).ok, true);
    for (const page of [ana, bo, cy]) await page.waitForSelector("#break-banner", { state: "hidden" });
    for (const page of [ana, bo, cy]) assert.deepEqual(page.problems, []);
  } finally {
    h.socket.close();
    for (const page of [ana, bo, cy]) await page.context().close();
  }
});
