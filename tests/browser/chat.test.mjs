// Chat and timer details in real headless Chromium against the real binary: http(s) links are
// clickable and nothing else is, a line of only emoji is sent as emoji and shown large, and
// "Skip phase" asks first, as "Reset" does.
import { test } from "node:test";
import assert from "node:assert/strict";

import { browserSuite, connected, watch } from "./harness.mjs";

const suite = browserSuite();

async function say(page, text) {
  await page.fill("#chat-input", text);
  await page.press("#chat-input", "Enter");
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages li .message-body")].some((b) => b.textContent === t), text);
}

test("links in chat, emoji-only lines, and skip asks first", async () => {
  const context = await suite.browser.newContext();
  const page = watch(await context.newPage());
  await page.goto(suite.server.url + "/");
  await page.fill("#create-display-name", "Ada");
  await page.click("#create-form button[type=submit]");
  await page.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  await connected(page);

  await say(page, "notes at https://example.org/plan?week=1, and javascript:alert(1) is not a link");
  const links = await page.$$eval("#messages li .message-body a", (as) => as.map((a) => ({ href: a.href, text: a.textContent, rel: a.rel, target: a.target })));
  assert.deepEqual(links, [{ href: "https://example.org/plan?week=1", text: "https://example.org/plan?week=1", rel: "noopener noreferrer", target: "_blank" }]);

  await say(page, "🎉🎉");
  assert.equal(await page.$eval("#messages li:last-child", (li) => li.classList.contains("emoji")), true, "shown large");
  await say(page, "done 🎉");
  assert.equal(await page.$eval("#messages li:last-child", (li) => li.classList.contains("emoji")), false, "text with an emoji is text");

  // Skip asks; dismissed, the phase goes on.
  await page.click("#timer-start");
  await page.waitForSelector("#timer-pause", { state: "visible" });
  const phase = await page.textContent("#timer-phase");
  let asked = "";
  page.once("dialog", (d) => { asked = d.message(); d.dismiss(); });
  await page.click("#timer-skip");
  assert.match(asked, /Skip to the next phase for everyone/);
  assert.equal(await page.textContent("#timer-phase"), phase, "dismissed: nothing skipped");
  page.once("dialog", (d) => d.accept());
  await page.click("#timer-skip");
  await page.waitForFunction((p) => document.querySelector("#timer-phase")?.textContent !== p, phase);
  assert.deepEqual(page.problems, []);
  await context.close();
});
