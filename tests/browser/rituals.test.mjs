// The co-working ritual in real headless Chromium: three people join a room whose host is a
// socket.io client driving the timer. Goals appear under tiles and in People on every page;
// when the work block ends the check-in card asks exactly those with a goal (keyboard
// reachable, without taking focus); answers become chat lines; "Not now" then "carry over"
// moves a goal to the next block; the Today panel counts the day. Screenshot: rituals.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join as joinPath } from "node:path";

import { axe, browserSuite, connected, joinAs, watch } from "./harness.mjs";
import { call, createRoom, enter, next } from "../protocol/harness.mjs";

const SHOTS = process.env.FLOWSYNC_TEST_SCREENSHOTS || new URL("./artifacts", import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });
const suite = browserSuite();

async function join(url, name) {
  const context = await suite.browser.newContext({ viewport: { width: 1280, height: 720 } });
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
