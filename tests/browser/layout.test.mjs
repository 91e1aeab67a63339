// The room page as a call app, in real headless Chromium against the real binary:
// - desktop sizes (light and dark): the call controls, the timer and the chat input are in the
//   viewport, the page does not scroll, and typing or receiving chat moves nothing else;
// - phones (portrait and landscape): the Video · Chat · People bar with unread counts (on the
//   tab and in the tab title), controls in view and not covered, the lobby's preview and Join
//   in view without scrolling;
// - alone in the room: the invite card, gone when someone joins;
// - hands: toast, announcement, the queue in the order hands went up, the host lowers one/all;
// - keyboard: shortcuts (not while typing), the help dialog, Esc, focus after creating, the
//   tab order (controls before tile tools), toggle state that matches the label;
// - devices blocked: explained next to the controls;
// - axe-core clean in every state. Screenshots go to $FLOWSYNC_TEST_SCREENSHOTS (docs/screenshots
//   when refreshing the documentation) or the artifacts directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join as joinPath } from "node:path";

import { axe, browserSuite, connected, joinAs, launch, watch } from "./harness.mjs";

const SHOTS = process.env.FLOWSYNC_TEST_SCREENSHOTS || new URL("./artifacts", import.meta.url).pathname;
const DESKTOPS = [[1280, 720], [1366, 768], [1536, 864], [1920, 1080]];
const PHONES = [[390, 844], [844, 390], [360, 640]];

mkdirSync(SHOTS, { recursive: true });
const suite = browserSuite();

async function newPage(name, viewport = { width: 1280, height: 720 }) {
  const context = await suite.browser.newContext({ viewport });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: suite.server.url });
  const page = watch(await context.newPage(), name);
  page.who = name;
  return page;
}

async function create(page, name, room) {
  await page.goto(suite.server.url + "/");
  await page.fill("#create-display-name", name);
  await page.fill("#create-room-name", room);
  await page.click("#create-form button[type=submit]");
  await page.waitForURL(/\/room\/[A-Z0-9]{6}$/);
  await connected(page);
}

const join = joinAs;

/** Selectors of `sels` whose box is not wholly inside the viewport (or that are not rendered). */
const outside = (page, sels) => page.evaluate((list) => list.filter((sel) => {
  const node = document.querySelector(sel);
  if (!node) return true;
  const r = node.getBoundingClientRect();
  return !(r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth + 0.5 && r.bottom <= innerHeight + 0.5);
}), sels);

const pageScrolls = (page) => page.evaluate(() => document.scrollingElement.scrollHeight > innerHeight + 1
  || document.scrollingElement.scrollWidth > innerWidth + 1);

const box = (page, sel) => page.evaluate((s) => {
  const r = document.querySelector(s).getBoundingClientRect();
  return [r.left, r.top, r.width, r.height].map(Math.round).join(",");
}, sel);

/** Resolves once the page has laid out and painted what it has (two animation frames). */
const settled = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

async function shot(page, name) {
  await page.screenshot({ path: joinPath(SHOTS, `${name}.png`) });
}

async function say(page, text) {
  await page.fill("#chat-input", text);
  await page.press("#chat-input", "Enter");
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages .message-body")].some((b) => b.textContent === t), text);
}

const CONTROLS = ["#mic-button", "#cam-button", "#share-button", "#hand-button", "#leave-button"];

test("the call view: desktops, phones, the invite card, hands, keyboard", async () => {
  const ada = await newPage("Ada");
  await create(ada, "Ada", "Design sync");
  const url = ada.url();

  // Focus goes to the room's heading after creating it; the controls precede tile tools.
  assert.equal(await ada.evaluate(() => document.activeElement?.id), "room-title");
  assert.ok(await ada.evaluate(() => {
    const tool = document.querySelector(".tile-tool");
    return !tool || !!(document.querySelector("#mic-button").compareDocumentPosition(tool) & Node.DOCUMENT_POSITION_FOLLOWING);
  }), "Mute comes before the tiles' tools in the tab order");

  // Alone: the invite card, in view, with the link.
  await ada.waitForSelector("#invite-card:not([hidden])");
  assert.deepEqual(await outside(ada, ["#invite-card", "#invite-card-copy"]), []);
  assert.equal(await ada.inputValue("#invite-card-link"), url);
  await ada.click("#invite-card-copy");
  assert.equal(await ada.evaluate(() => navigator.clipboard.readText()), url);
  await axe(ada, "room, alone");
  await shot(ada, "room-alone");

  const bob = await newPage("Bob", { width: 390, height: 844 });
  // The lobby fits a phone: the preview and Join are in view without scrolling.
  for (const [width, height] of [[390, 844], [360, 640]]) {
    await bob.setViewportSize({ width, height });
    await bob.goto(url);
    await bob.waitForSelector("#lobby:not([hidden])");
    assert.deepEqual(await outside(bob, ["#preview", "#join-display-name", "#join-form button[type=submit]", "#lobby-mic", "#lobby-cam"]), [],
      `lobby at ${width}×${height}`);
  }
  await shot(bob, "lobby-phone");
  await bob.setViewportSize({ width: 390, height: 844 });
  await join(bob, url, "Bob");
  await ada.waitForSelector("#invite-card", { state: "hidden" });

  // Desktop sizes, light and dark: everything needed is in view and the page does not scroll.
  for (const scheme of ["light", "dark"]) {
    await ada.emulateMedia({ colorScheme: scheme });
    for (const [width, height] of DESKTOPS) {
      await ada.setViewportSize({ width, height });
      await settled(ada);
      const what = `${width}×${height} ${scheme}`;
      assert.deepEqual(await outside(ada, [...CONTROLS, "#timer-clock", "#chat-input", "#tab-chat", "#tab-people"]), [], what);
      assert.equal(await pageScrolls(ada), false, `no page scroll at ${what}`);
      if (width === 1366) await axe(ada, `room at ${what}`);
    }
    await shot(ada, scheme === "light" ? "room-desktop" : "room-desktop-dark");
  }
  await ada.emulateMedia({ colorScheme: "light" });
  await ada.setViewportSize({ width: 1280, height: 720 });

  // Typing and receiving chat moves nothing else.
  const stage = await box(ada, ".stage-wrap");
  const controls = await box(ada, ".controls");
  await ada.fill("#chat-input", "a long line\nand another\nand a third\nand a fourth");
  assert.equal(await box(ada, ".stage-wrap"), stage, "a long draft does not move the stage");
  for (let i = 0; i < 12; i++) await say(ada, `line ${i}${" words".repeat(i)}`);
  assert.equal(await box(ada, ".stage-wrap"), stage, "the stage stays put while chatting");
  assert.equal(await box(ada, ".controls"), controls, "the controls stay put while chatting");
  assert.deepEqual(await outside(ada, ["#chat-input", "#mic-button"]), []);
  assert.equal(await pageScrolls(ada), false);

  // Phones: the bar, the views, unread counts on the tab and in the title.
  for (const [width, height] of PHONES) {
    await bob.setViewportSize({ width, height });
    await bob.click("#tab-video");
    await settled(bob);
    const what = `${width}×${height}`;
    assert.deepEqual(await outside(bob, [...CONTROLS, "#tab-video", "#tab-chat", "#tab-people", "#timer-mini", ".stage-wrap"]), [], what);
    assert.equal(await pageScrolls(bob), false, `no page scroll at ${what}`);
    // Nothing covers Leave: the element at its centre is Leave itself.
    assert.ok(await bob.evaluate(() => {
      const r = document.querySelector("#leave-button").getBoundingClientRect();
      return document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)?.closest("#leave-button") !== null;
    }), `Leave is not covered at ${what}`);
    await axe(bob, `room on a phone at ${what}`);
    await shot(bob, width > height ? "room-phone-landscape" : width === 390 ? "room-phone" : "room-phone-small");
  }
  await bob.setViewportSize({ width: 390, height: 844 });
  // Bob, watching video, did not read the lines above: they wait on the Chat tab.
  assert.equal(await bob.textContent("#unread"), "12");
  await bob.click("#tab-chat");
  await bob.waitForFunction(() => document.querySelector("#unread").hidden);
  await bob.click("#tab-video");
  assert.equal(await bob.getAttribute("#tab-video", "aria-selected"), "true");
  await say(ada, "are you there?");
  await bob.waitForFunction(() => document.querySelector("#unread").textContent === "1" && !document.querySelector("#unread").hidden);
  assert.match(await bob.title(), /^\(1\) Design sync/);
  assert.match(await bob.getAttribute("#tab-chat", "aria-label"), /1 unread/);
  // The first tap on Chat shows it (and reads it).
  await bob.click("#tab-chat");
  assert.equal(await bob.getAttribute("#tab-chat", "aria-selected"), "true");
  assert.deepEqual(await outside(bob, ["#chat-input", "#messages-scroll", "#tab-chat"]), []);
  await bob.waitForFunction(() => document.querySelector("#unread").hidden);
  assert.doesNotMatch(await bob.title(), /^\(/);
  await axe(bob, "the chat view on a phone");
  await shot(bob, "room-phone-chat");
  await bob.click("#tab-people");
  assert.deepEqual(await outside(bob, ["#people-title"]), []);
  await axe(bob, "the people view on a phone");
  await bob.click("#tab-video");

  // Hands: Bob, then Cy; everyone sees the queue in that order; the host lowers one, then all.
  const cy = await newPage("Cy");
  await join(cy, url, "Cy");
  await bob.click("#hand-button");
  await ada.waitForFunction(() => document.querySelector("#toasts")?.textContent.includes("Bob raised a hand"));
  assert.match(await ada.textContent("#hand-announce"), /Bob raised a hand/);
  await cy.keyboard.press("h");
  await ada.waitForFunction(() => document.querySelectorAll("#hands-queue li").length === 2);
  const order = (p) => p.$$eval("#hands-queue li .hand-name", (l) => l.map((x) => x.textContent));
  assert.deepEqual(await order(ada), ["Bob", "Cy"]);
  await cy.waitForFunction(() => document.querySelectorAll("#hands-queue li").length === 2);
  assert.deepEqual(await order(cy), ["Bob", "Cy (you)"]);
  assert.match(await ada.textContent("#hand-announce"), /Cy raised a hand \(2 in the queue\)/);
  assert.equal(await ada.getAttribute("#hand-button", "aria-pressed"), "false");
  assert.equal(await cy.getAttribute("#hand-button", "aria-pressed"), "true");
  assert.equal(await cy.textContent("#hand-button .label"), "Raise hand", "the label stays; aria-pressed says it is up");
  assert.equal(await cy.$$eval("#hands-queue button", (b) => b.length), 0, "guests cannot lower others' hands");
  await ada.click("#tab-people");
  await axe(ada, "people with raised hands");
  await shot(ada, "room-hands");
  await ada.click('#hands-queue button[data-lower]');
  await cy.waitForFunction(() => document.querySelectorAll("#hands-queue li").length === 1);
  assert.deepEqual(await order(cy), ["Cy (you)"]);
  await bob.waitForFunction(() => document.querySelector("#hand-button").getAttribute("aria-pressed") === "false");
  await bob.waitForFunction(() => document.querySelector("#toasts").textContent.includes("Ada lowered your hand"));
  await ada.click("#hands-lower-all");
  await cy.waitForFunction(() => document.querySelector("#hands-card").hidden && document.querySelector("#hand-button").getAttribute("aria-pressed") === "false");

  // Keyboard: M and V switch the devices (not while typing); ? opens the help; Esc closes it
  // and the Devices menu.
  await cy.click("#room-title");
  assert.equal(await cy.getAttribute("#mic-button", "aria-pressed"), "true");
  assert.equal(await cy.textContent("#mic-button .label"), "Microphone");
  await cy.keyboard.press("m");
  await cy.waitForFunction(() => document.querySelector("#mic-button").getAttribute("aria-pressed") === "false");
  await ada.waitForFunction(() => [...document.querySelectorAll(".tile-remote")].some((t) => t.textContent.includes("Cy")
    && t.querySelector(".tile-icons").dataset.icons.includes("muted")));
  await cy.keyboard.press("m");
  await cy.waitForFunction(() => document.querySelector("#mic-button").getAttribute("aria-pressed") === "true");
  await cy.keyboard.press("c");
  assert.equal(await cy.evaluate(() => document.activeElement?.id), "chat-input", "C goes to the chat");
  await cy.keyboard.type("my mic stays on");
  assert.equal(await cy.getAttribute("#mic-button", "aria-pressed"), "true", "typing an m is not a shortcut");
  assert.equal(await cy.inputValue("#chat-input"), "my mic stays on");
  await cy.click("#room-title");
  await cy.keyboard.press("Shift+?");
  await cy.waitForSelector("#help-dialog[open]");
  await axe(cy, "shortcuts dialog");
  await cy.keyboard.press("Escape");
  await cy.waitForSelector("#help-dialog:not([open])", { state: "attached" });
  await cy.click("#devices summary");
  assert.equal(await cy.evaluate(() => document.querySelector("#devices").open), true);
  await cy.keyboard.press("Escape");
  assert.equal(await cy.evaluate(() => document.querySelector("#devices").open), false);
  assert.equal(await cy.evaluate(() => document.activeElement?.closest("#devices") !== null), true, "focus back on Devices");

  for (const p of [ada, bob, cy]) assert.deepEqual(p.problems, [], `no console errors on ${p.who}'s page`);
});

test("blocked camera and microphone are explained next to the controls", async () => {
  const blocked = await launch(["--deny-permission-prompts"], { without: ["--use-fake-ui-for-media-stream"] });
  try {
    const host = await newPage("Host");
    await create(host, "Host", "Blocked devices");
    const context = await blocked.newContext({ viewport: { width: 1280, height: 720 } });
    const page = watch(await context.newPage(), "Dee");
    await join(page, host.url(), "Dee");
    await page.waitForSelector("#device-help:not([hidden])");
    assert.match(await page.textContent("#device-help-text"), /blocked the (camera|microphone).*address bar/);
    assert.deepEqual(await outside(page, ["#device-help", "#device-retry", "#mic-button"]), []);
    assert.equal(await page.getAttribute("#mic-button", "aria-pressed"), "false", "a blocked microphone is not shown as live");
    assert.equal(await page.getAttribute("#mic-button", "aria-describedby"), "device-help-text");
    await axe(page, "room with blocked devices");
    await shot(page, "room-devices-blocked");
    await page.click("#device-retry");
    await page.waitForSelector("#device-help:not([hidden])");
    assert.deepEqual(page.problems.filter((l) => !/Permission denied|NotAllowedError/.test(l)), []);
    assert.deepEqual(host.problems, []);
  } finally {
    await blocked.close();
  }
});
