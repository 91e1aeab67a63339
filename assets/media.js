// media.js: this browser's own camera, microphone and screen: capture with the chosen devices,
// on/off switches that really release the camera, a microphone level meter, the remembered
// device choices, and the sending quality to use for a mesh of a given size. Used by the lobby
// (preview) and the room (the same tracks go to every peer). Standard APIs only.

const PREFS_KEY = 'flowsync.media';

/** Camera capture: 720p at most; the sender scales down per peer as the mesh grows. */
const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24, max: 30 } };
const MIC = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * What to send each peer when `peers` others are in the room: a mesh sends one copy per peer, so
 * pixels and bitrate per copy fall as it grows (10 people: 9 copies of ~250 kbit/s ≈ 2.3 Mbit/s up).
 */
export function cameraEncoding(peers) {
  if (peers <= 1) return { maxBitrate: 1_500_000, scaleResolutionDownBy: 1, maxFramerate: 30 };
  if (peers <= 3) return { maxBitrate: 800_000, scaleResolutionDownBy: 1.5, maxFramerate: 24 };
  if (peers <= 5) return { maxBitrate: 450_000, scaleResolutionDownBy: 2, maxFramerate: 20 };
  return { maxBitrate: 250_000, scaleResolutionDownBy: 3, maxFramerate: 15 };
}

/** A shared screen favours sharp text over motion; it shares the uplink with the camera copies. */
export function screenEncoding(peers) {
  return { maxBitrate: peers <= 3 ? 1_500_000 : 700_000, maxFramerate: 15 };
}

/** Where this browser keeps a site's camera and microphone permission. */
export function permissionHint(ua = navigator.userAgent) {
  if (/Firefox\//.test(ua)) {
    return 'In Firefox, click the crossed-out camera or microphone icon in the address bar, remove the block, then try again.';
  }
  if (/Safari\//.test(ua) && !/(Chrome|Chromium|Edg|OPR)\//.test(ua)) {
    return 'In Safari, open Safari › Settings for This Website, set Camera and Microphone to Allow, then try again.';
  }
  return 'Click the site controls at the left of the address bar, allow the camera and microphone, then try again.';
}

/** Why capture failed, in words a person can act on. */
export function describeMediaError(err, what = 'camera or microphone') {
  const name = err && err.name;
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `The browser blocked the ${what}. ${permissionHint()}`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found. Plug one in and try again, or carry on without it.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} is in use by another program (another call, or another tab) or could not be started. Close it and try again.`;
    default:
      return `The ${what} could not be started${err && err.message ? ` (${err.message})` : ''}.`;
  }
}

/** Camera and microphone need HTTPS (or localhost) and a browser with mediaDevices. */
export function captureSupport() {
  if (!window.isSecureContext) {
    return {
      ok: false,
      reason: 'This page was not opened over HTTPS, so the browser does not allow camera, microphone or '
        + 'screen sharing. Open the room through its https:// address (or on localhost). You can still chat '
        + 'and follow the timer.',
    };
  }
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== 'function') {
    return { ok: false, reason: 'This browser cannot use a camera or microphone here. You can still chat and follow the timer.' };
  }
  return { ok: true, reason: '' };
}

function readPrefs() {
  try {
    const p = JSON.parse(localStorage.getItem(PREFS_KEY) || '{}');
    return p && typeof p === 'object' ? p : {};
  } catch {
    return {};
  }
}

function writePrefs(p) {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(p));
  } catch {
    // Storage blocked: the choices last for this page only.
  }
}

/**
 * The local camera and microphone. `stream` is one MediaStream that peers receive both tracks in;
 * tracks come and go inside it (turning the camera off stops it, so its light goes out). Emits
 * `change` whenever a track or switch changes, and `error` {detail: message} on capture trouble.
 */
export class LocalMedia extends EventTarget {
  constructor() {
    super();
    const prefs = readPrefs();
    this.stream = new MediaStream();
    this.audioTrack = null;
    this.videoTrack = null;
    this.audioOn = prefs.audio !== false;
    this.videoOn = prefs.video !== false;
    this.audioDevice = prefs.audioDevice || '';
    this.videoDevice = prefs.videoDevice || '';
    this.screenTrack = null;
    this.screenStream = new MediaStream();
    this.supported = captureSupport();
    /** The last capture problem per kind ('' when fine), and the error's name behind it. */
    this.problem = { audio: '', video: '' };
    this.failure = { audio: '', video: '' };
    /** Bumped by stop(): a capture that resolves afterwards (a permission prompt answered after
     * leaving) releases its tracks instead of turning the camera back on. */
    this.epoch = 0;
  }

  /** Keeps freshly captured tracks unless stop() ran while they were being opened. */
  keep(stream, epoch) {
    if (epoch !== this.epoch) {
      for (const t of stream.getTracks()) t.stop();
      return false;
    }
    for (const t of stream.getTracks()) this.adopt(t);
    return true;
  }

  save() {
    writePrefs({ audio: this.audioOn, video: this.videoOn, audioDevice: this.audioDevice, videoDevice: this.videoDevice });
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }

  /** Whether the microphone is live (on and captured). */
  get sendingAudio() {
    return !!(this.audioOn && this.audioTrack && this.audioTrack.readyState === 'live');
  }

  get sendingVideo() {
    return !!(this.videoOn && this.videoTrack && this.videoTrack.readyState === 'live');
  }

  /** Opens whatever is switched on; a failing device is reported and the other still opens. */
  async start() {
    if (!this.supported.ok) return;
    const wantAudio = this.audioOn && !this.audioTrack;
    const wantVideo = this.videoOn && !this.videoTrack;
    if (!wantAudio && !wantVideo) return;
    const epoch = this.epoch;
    try {
      const s = await navigator.mediaDevices.getUserMedia({
        audio: wantAudio ? this.constraints('audio') : false,
        video: wantVideo ? this.constraints('video') : false,
      });
      if (!this.keep(s, epoch)) return;
      this.problem = { audio: '', video: '' };
      this.failure = { audio: '', video: '' };
    } catch (err) {
      if (epoch !== this.epoch) return;
      if (err && err.name === 'OverconstrainedError') {
        // A remembered device is gone: forget it and try the defaults.
        this.audioDevice = '';
        this.videoDevice = '';
        this.save();
      }
      // Together failed: try each alone so a missing camera does not cost the microphone.
      if (wantAudio) await this.open('audio');
      if (wantVideo) await this.open('video');
    }
    this.changed();
  }

  constraints(kind) {
    const base = kind === 'audio' ? { ...MIC } : { ...CAMERA };
    const id = kind === 'audio' ? this.audioDevice : this.videoDevice;
    if (id) base.deviceId = { exact: id };
    return base;
  }

  /** Opens one kind; records a readable problem instead of throwing. */
  async open(kind) {
    const epoch = this.epoch;
    try {
      const s = await navigator.mediaDevices.getUserMedia({ [kind]: this.constraints(kind) });
      if (!this.keep(s, epoch)) return false;
      this.problem[kind] = '';
      this.failure[kind] = '';
      return true;
    } catch (err) {
      if (epoch !== this.epoch) return false;
      if (err && err.name === 'OverconstrainedError' && (kind === 'audio' ? this.audioDevice : this.videoDevice)) {
        if (kind === 'audio') this.audioDevice = ''; else this.videoDevice = '';
        this.save();
        return this.open(kind);
      }
      this.problem[kind] = describeMediaError(err, kind === 'audio' ? 'microphone' : 'camera');
      this.failure[kind] = (err && err.name) || 'Error';
      this.dispatchEvent(new CustomEvent('error', { detail: this.problem[kind] }));
      return false;
    }
  }

  adopt(track) {
    const kind = track.kind;
    const old = kind === 'audio' ? this.audioTrack : this.videoTrack;
    if (old) {
      this.stream.removeTrack(old);
      old.stop();
    }
    this.stream.addTrack(track);
    if (kind === 'audio') {
      this.audioTrack = track;
      track.enabled = this.audioOn;
    } else {
      this.videoTrack = track;
      track.contentHint = 'motion';
    }
    // Unplugged or revoked: show it as off rather than a frozen picture.
    track.addEventListener('ended', () => {
      if ((kind === 'audio' ? this.audioTrack : this.videoTrack) !== track) return;
      this.drop(kind);
      this.problem[kind] = `The ${kind === 'audio' ? 'microphone' : 'camera'} stopped (unplugged or blocked).`;
      this.failure[kind] = 'ended';
      this.changed();
    });
  }

  drop(kind) {
    const t = kind === 'audio' ? this.audioTrack : this.videoTrack;
    if (!t) return;
    this.stream.removeTrack(t);
    t.stop();
    if (kind === 'audio') this.audioTrack = null; else this.videoTrack = null;
  }

  /** Microphone on/off: the track stays open (instant unmute) but sends silence while off. */
  async setAudio(on) {
    this.audioOn = on;
    this.save();
    if (on && !this.audioTrack && this.supported.ok) await this.open('audio');
    if (this.audioTrack) this.audioTrack.enabled = on;
    this.changed();
  }

  /** Camera on/off: off stops the camera (its light goes out); on opens it again. */
  async setVideo(on) {
    this.videoOn = on;
    this.save();
    if (on) {
      if (!this.videoTrack && this.supported.ok) await this.open('video');
    } else {
      this.drop('video');
    }
    this.changed();
  }

  /** Switches to another device of a kind (takes effect at once if that kind is open). */
  async useDevice(kind, id) {
    if (kind === 'audio') this.audioDevice = id; else this.videoDevice = id;
    this.save();
    const on = kind === 'audio' ? this.audioOn : this.videoOn;
    if (on && this.supported.ok) await this.open(kind);
    this.changed();
  }

  /** Devices by kind; labels are empty until the page has been granted access once. */
  async devices() {
    if (!this.supported.ok || !navigator.mediaDevices.enumerateDevices) return { audio: [], video: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    const pick = (kind) => all.filter((d) => d.kind === kind && d.deviceId)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${kind === 'audioinput' ? 'Microphone' : 'Camera'} ${i + 1}` }));
    return { audio: pick('audioinput'), video: pick('videoinput') };
  }

  /** The device id a kind is using now (the chosen one, or what the browser picked). */
  currentDevice(kind) {
    const t = kind === 'audio' ? this.audioTrack : this.videoTrack;
    return (t && t.getSettings().deviceId) || (kind === 'audio' ? this.audioDevice : this.videoDevice);
  }

  /** Asks for a screen, window or tab; resolves with the track (null when the person cancels). */
  async startScreen() {
    if (!navigator.mediaDevices || typeof navigator.mediaDevices.getDisplayMedia !== 'function') {
      throw new Error('This browser cannot share its screen.');
    }
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (err) {
      if (err && err.name === 'NotAllowedError') return null; // cancelled in the picker
      throw new Error(describeMediaError(err, 'screen capture'));
    }
    const track = s.getVideoTracks()[0];
    if (!track) return null;
    track.contentHint = 'detail';
    this.screenTrack = track;
    this.screenStream.addTrack(track);
    // The browser's own "Stop sharing" button ends the track.
    track.addEventListener('ended', () => {
      if (this.screenTrack === track) this.dispatchEvent(new Event('screenended'));
    });
    return track;
  }

  stopScreen() {
    const t = this.screenTrack;
    this.screenTrack = null;
    if (t) {
      this.screenStream.removeTrack(t);
      t.stop();
    }
  }

  /** Releases every device (and any capture still waiting for permission). */
  stop() {
    this.epoch += 1;
    this.drop('audio');
    this.drop('video');
    this.stopScreen();
  }
}

/**
 * A 0–1 loudness reading of an audio track (RMS of the waveform, smoothed), for the lobby meter
 * and the local speaking indicator. One shared AudioContext per page.
 */
let meterCtx = null;
export class LevelMeter {
  constructor(track) {
    this.level = 0;
    this.node = null;
    this.source = null;
    if (!track) return;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    try {
      meterCtx = meterCtx || new Ctx();
      if (meterCtx.state === 'suspended') meterCtx.resume().catch(() => {});
      this.source = meterCtx.createMediaStreamSource(new MediaStream([track]));
      this.node = meterCtx.createAnalyser();
      this.node.fftSize = 512;
      this.buf = new Float32Array(this.node.fftSize);
      this.source.connect(this.node);
    } catch {
      this.node = null;
    }
  }

  /** Reads the current level (call from an animation frame or a timer). */
  read() {
    if (!this.node) return 0;
    if (meterCtx && meterCtx.state === 'suspended') meterCtx.resume().catch(() => {});
    this.node.getFloatTimeDomainData(this.buf);
    let sum = 0;
    for (const v of this.buf) sum += v * v;
    const rms = Math.sqrt(sum / this.buf.length);
    const now = Math.min(1, rms * 4);
    this.level = now > this.level ? now : this.level * 0.85 + now * 0.15;
    return this.level;
  }

  close() {
    try {
      this.source?.disconnect();
    } catch {
      // already gone
    }
    this.node = null;
    this.source = null;
  }
}
