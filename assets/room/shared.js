// room/shared.js: what every part of the room page shares: its elements (`el`), the room and
// session (`state`), the live connection's state (`live`), the local devices (`media`), the
// calls (`call`), the chat's state (`chat`), which panel shows (`panels`), and two small text
// helpers. Only data and helpers live here, so every other room module may import it.

import { LocalMedia } from '../media.js';
import { Panels } from '../panels.js';
import { Stage } from '../stage.js';
import { byId } from '../ui.js';

/** How long an emitted event waits for the server's acknowledgement. */
export const ACK_TIMEOUT_MS = 10000;
/** How often the timer display is redrawn. */
export const TICK_MS = 250;
/** Clock round trips per offset measurement, and how often it is measured again. */
export const CLOCK_ROUNDS = 5;
export const CLOCK_RESYNC_MS = 10 * 60 * 1000;
/** Retry delay after the server refused or dropped the connection for a passing reason. */
export const RETRY_MS = 5000;
/** How far back the chat walks to close a gap after a reconnect. */
export const MAX_GAP_PAGES = 10;
/** Audio level (0–1) above which someone counts as speaking, and how long the speaker view waits. */
export const SPEAKING_LEVEL = 0.04;
export const SPEAKER_SWITCH_MS = 700;

export const el = {
  loading: byId('loading'),
  notice: byId('notice'),
  noticeTitle: byId('notice-title'),
  noticeText: byId('notice-text'),
  noticeRejoin: byId('notice-rejoin'),
  noticeHome: byId('notice-home'),
  noticeRetry: byId('notice-retry'),
  lobby: byId('lobby'),
  lobbyCode: byId('lobby-code'),
  lobbyTitle: byId('lobby-title'),
  lobbyFacts: byId('lobby-facts'),
  lobbyInside: byId('lobby-inside'),
  lobbyNotice: byId('lobby-notice'),
  joinForm: byId('join-form'),
  hostTools: byId('host-tools'),
  standingHint: byId('standing-hint'),
  standingButton: byId('standing-button'),
  hostLinkButton: byId('host-link-button'),
  hostLinkRotate: byId('host-link-rotate'),
  hostToolsStatus: byId('host-tools-status'),
  lobbyResume: byId('lobby-resume'),
  resumeName: byId('resume-name'),
  resumeButton: byId('resume-button'),
  resumeOther: byId('resume-other'),
  joinError: byId('join-error'),
  joinName: byId('join-display-name'),
  joinPasswordField: byId('join-password-field'),
  joinPassword: byId('join-password'),
  room: byId('room'),
  roomCode: byId('room-code'),
  roomTitle: byId('room-title'),
  whoami: byId('room-whoami'),
  roomFacts: byId('room-facts'),
  connStatus: byId('conn-status'),
  connText: byId('conn-text'),
  roomStatus: byId('room-status'),
  roomError: byId('room-error'),
  handButton: byId('hand-button'),
  exportButton: byId('export-button'),
  exportFallback: byId('export-fallback'),
  exportLink: byId('export-link'),
  leaveButton: byId('leave-button'),
  endButton: byId('end-button'),
  timerPhase: byId('timer-phase'),
  timerClock: byId('timer-clock'),
  timerProgress: byId('timer-progress'),
  timerMeta: byId('timer-meta'),
  timerAnnounce: byId('timer-announce'),
  timerControls: byId('timer-controls'),
  timerStart: byId('timer-start'),
  timerPause: byId('timer-pause'),
  timerResume: byId('timer-resume'),
  timerSkip: byId('timer-skip'),
  timerReset: byId('timer-reset'),
  timerGuestHint: byId('timer-guest-hint'),
  timerError: byId('timer-error'),
  notifyButton: byId('notify-button'),
  notifyStatus: byId('notify-status'),
  peopleCount: byId('people-count'),
  participants: byId('participants'),
  peopleStatus: byId('people-status'),
  peopleError: byId('people-error'),
  inviteCode: byId('invite-code'),
  inviteLink: byId('invite-link'),
  copyButton: byId('copy-button'),
  copyStatus: byId('copy-status'),
  olderButton: byId('older-button'),
  scroll: byId('messages-scroll'),
  list: byId('messages'),
  empty: byId('messages-empty'),
  chatForm: byId('chat-form'),
  chatInput: byId('chat-input'),
  chatError: byId('chat-error'),
  chatPanel: byId('chat-panel'),
  emojiButton: byId('emoji-button'),
  emojiPanel: byId('emoji-panel'),
  previewVideo: byId('preview-video'),
  previewOff: byId('preview-off'),
  lobbyMic: byId('lobby-mic'),
  lobbyCam: byId('lobby-cam'),
  micMeter: byId('mic-meter'),
  cameraSelect: byId('camera-select'),
  micSelect: byId('mic-select'),
  mediaNotice: byId('media-notice'),
  timerMini: byId('timer-mini'),
  timerMiniPhase: byId('timer-mini-phase'),
  timerMiniClock: byId('timer-mini-clock'),
  stage: byId('stage'),
  soundBlocked: byId('sound-blocked'),
  soundButton: byId('sound-button'),
  micButton: byId('mic-button'),
  camButton: byId('cam-button'),
  shareButton: byId('share-button'),
  viewButton: byId('view-button'),
  tabs: byId('tabs'),
  tabChat: byId('tab-chat'),
  tabPeople: byId('tab-people'),
  tabPeopleCount: byId('tab-people-count'),
  handsCount: byId('hands-count'),
  handsCountN: byId('hands-count-n'),
  unread: byId('unread'),
  peoplePanel: byId('people-panel'),
  handsCard: byId('hands-card'),
  handsQueue: byId('hands-queue'),
  handsHost: byId('hands-host'),
  handsLowerAll: byId('hands-lower-all'),
  handSound: byId('hand-sound'),
  handAnnounce: byId('hand-announce'),
  toasts: byId('toasts'),
  inviteCard: byId('invite-card'),
  inviteCardLink: byId('invite-card-link'),
  inviteCardCopy: byId('invite-card-copy'),
  inviteCardShare: byId('invite-card-share'),
  inviteCardStatus: byId('invite-card-status'),
  inviteCardHide: byId('invite-card-hide'),
  helpButton: byId('help-button'),
  helpDialog: byId('help-dialog'),
  timerTitle: byId('timer-title'),
  deviceHelp: byId('device-help'),
  deviceHelpText: byId('device-help-text'),
  deviceRetry: byId('device-retry'),
  devices: byId('devices'),
  roomCameraSelect: byId('room-camera-select'),
  roomMicSelect: byId('room-mic-select'),
  mediaError: byId('media-error'),
  goalForm: byId('goal-form'),
  goalLabel: byId('goal-label'),
  goalInput: byId('goal-input'),
  goalSave: byId('goal-save'),
  goalClear: byId('goal-clear'),
  goalCarry: byId('goal-carry'),
  goalCarryText: byId('goal-carry-text'),
  goalStatus: byId('goal-status'),
  goalError: byId('goal-error'),
  checkinCard: byId('checkin-card'),
  checkinGoal: byId('checkin-goal'),
  checkinOutcomes: byId('checkin-outcomes'),
  checkinNote: byId('checkin-note'),
  checkinError: byId('checkin-error'),
  checkinHide: byId('checkin-hide'),
  checkinAnnounce: byId('checkin-announce'),
  today: byId('today'),
  todaySummary: byId('today-summary'),
  todayGoals: byId('today-goals'),
  todayStreaks: byId('today-streaks'),
  todayError: byId('today-error'),
  statusSelect: byId('status-select'),
  breakBanner: byId('break-banner'),
  focusRules: byId('focus-rules'),
  focusMute: byId('focus-mute'),
  focusQuiet: byId('focus-quiet'),
  focusBanner: byId('focus-banner'),
};
export const views = [el.notice, el.lobby, el.room];
export const panels = new Panels(el.room, el.tabs);

export const state = {
  code: null,
  room: null,
  session: null,
  /** Refreshes who is inside while the lobby is shown. */
  lobbyTimer: null,
};

/** The live connection and what it has told us. */
export const live = {
  socket: null,
  /** People announced (`user-joined`) between connecting and this connection's snapshot. */
  earlyArrivals: null,
  /** Set once this page is done with the room (left, removed, ended, replaced): no reconnects. */
  over: false,
  /** This tab asked to end the room (so its own `room-ended` reads "you ended it"). */
  ending: false,
  /** The server said it is restarting; the next reconnect attempts say so. */
  restarting: false,
  /** When to reconnect after a restart (the server's hint plus jitter), in milliseconds. */
  restartDelay: RETRY_MS,
  /** The last `error` the server sent, shown until the next successful connect. */
  serverError: '',
  selfId: null,
  role: 'guest',
  /** A `room-joined` snapshot arrived since entering (until then nobody is known to be here). */
  snapshotSeen: false,
  /** The invite card was dismissed ("Not now") on this visit. */
  inviteDismissed: false,
  /** participant_id → {participant_id, display_name, role, hand_raised, audio, video, presenting} */
  participants: new Map(),
  /**
   * Seats taken over REST whose connection has not arrived ("joining…"): participant_id →
   * {participant_id, display_name, timer}. Everyone who can read the room is shown in People.
   */
  pending: new Map(),
  presenterId: null,
  timer: null,
  /** Server − client milliseconds. */
  offset: 0,
  offsetMeasured: false,
  clockRun: 0,
  tick: null,
  resync: null,
  retry: null,
};

/** This page's camera and microphone, and its calls with everyone else. */
export const media = new LocalMedia();
export const call = {
  mesh: null,
  stage: new Stage(el.stage, { onBlocked: () => { el.soundBlocked.hidden = false; } }),
  /** Participant ids speaking now, the one shown large in speaker view, and its challenger. */
  speaking: new Set(),
  activeId: null,
  candidate: null,
  candidateSince: 0,
  localMeter: null,
  meterTrack: null,
  previewLoop: null,
  presenting: false,
  renderQueued: false,
  iceRefresh: null,
  /** `?relay=1` forces every call through the TURN relay (debugging NAT trouble). */
  relayOnly: /^(1|true|yes)$/i.test(new URLSearchParams(window.location.search).get('relay') || ''),
  /** `?turn=udp|tcp|tls` keeps only that way to the relay (debugging firewalls). */
  turnOnly: (new URLSearchParams(window.location.search).get('turn') || '').toLowerCase(),
};

/** The ICE servers to use: as handed out, or narrowed to one transport by `?turn=`. */
export function iceFor(servers) {
  const list = Array.isArray(servers) ? servers : [];
  const keep = {
    udp: (u) => u.startsWith('turn:') && !/transport=tcp/.test(u),
    tcp: (u) => u.startsWith('turn:') && /transport=tcp/.test(u),
    tls: (u) => u.startsWith('turns:'),
  }[call.turnOnly];
  if (!keep) return list;
  return list
    .map((s) => ({ ...s, urls: [].concat(s.urls || []).filter(keep) }))
    .filter((s) => s.urls.length);
}

export const chat = {
  /**
   * Lines sent whose acknowledgement did not come (the connection dropped, the server
   * restarted): client id → payload. Each is sent again, with the same id, once the room is
   * joined again; the server stores a line once per id, so a line that did arrive is not
   * doubled.
   */
  outbox: new Map(),
  unread: 0,
  loaded: false,
  loading: false,
  /** Asked to load again while a load was running (a reconnect in the middle of it). */
  again: false,
  retry: null,
  newestId: 0,
  nextBefore: null,
  rendered: new Set(),
  sending: false,
};

/** Sets an element's text only when it changes, so live regions don't repeat themselves. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Puts text in a status region and clears it after a while. */
export const statusTimers = new Map();
export function flash(node, text, ms = 6000) {
  node.textContent = text;
  clearTimeout(statusTimers.get(node));
  statusTimers.set(node, setTimeout(() => { node.textContent = ''; }, ms));
}
