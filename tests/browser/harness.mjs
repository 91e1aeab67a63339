// Shared pieces of the browser tests: launching headless Chromium with fake camera, microphone
// and screen, watching a page for script errors, and waiting on the room page's common states.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

import { startServer } from "../protocol/harness.mjs";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const CHROMIUM = process.env.FLOWSYNC_CHROMIUM || "/usr/bin/chromium";

// No sandbox (the tests run as root), no background networking (the network is closed), fake
// media devices granted without a prompt, sound allowed to start without a gesture.
export const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
  "--autoplay-policy=no-user-gesture-required"];

/** Headless Chromium with [`ARGS`] (less `without`) plus `extra`. */
export function launch(extra = [], { without = [] } = {}) {
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS.filter((a) => !without.includes(a)), ...extra] });
}

/** Runs axe-core on the page as it is; serious or critical violations fail the test. */
export async function axe(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`), [],
    `accessibility violations on ${what}`);
}

/**
 * Collects a page's script errors in `page.problems` (a test asserts it stays empty). The
 * browser's own network line for a refusal the page handles (a 4xx) is not a script error.
 */
export function watch(page, name = "") {
  page.problems = [];
  const tag = name ? `${name}: ` : "";
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      page.problems.push(tag + m.text());
    }
  });
  page.on("pageerror", (e) => page.problems.push(tag + String(e)));
  return page;
}

/** Resolves once the room page says it is connected. */
export const connected = (page, timeout = 30000) =>
  page.waitForFunction(() => document.querySelector("#conn-text")?.textContent.includes("Connected"), null, { timeout });

/** Opens a room's `url` on `page`, joins from the lobby as `name` and waits to be connected. */
export async function joinAs(page, url, name) {
  await page.goto(url);
  await page.waitForSelector("#lobby:not([hidden])");
  await page.fill("#join-display-name", name);
  await page.click("#join-form button[type=submit]");
  await connected(page);
  return page;
}

/** The People list as text, one entry per person. */
export const people = (page) =>
  page.$$eval("#participants li", (l) => l.map((x) => x.textContent.replace(/\s+/g, " ").trim()));

/**
 * The usual frame of a browser test file: `flowsync serve` (with `env`) and one Chromium (with
 * `extra` flags) started before its tests and stopped after; read them as `suite.server` and
 * `suite.browser`.
 */
export function browserSuite({ env, extra } = {}) {
  const suite = { server: null, browser: null };
  before(async () => {
    suite.server = await startServer({ env });
    suite.browser = await launch(extra);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
  });
  return suite;
}
