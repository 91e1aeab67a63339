// mesh.js: the WebRTC mesh: one RTCPeerConnection per other participant, keyed by participant id.
//
// Negotiation follows the "perfect negotiation" pattern (W3C WebRTC §10.7 / MDN): either side may
// offer at any time; when two offers cross, the polite side (the smaller participant id) rolls
// back and answers, the impolite side ignores the other's offer. Normally only the newcomer offers
// (to everyone its `room-joined` lists), so crossing offers happen only when two people arrive at
// the same moment or both restart ICE, and the pattern absorbs that.
//
// Signaling goes through the server's `offer` / `answer` / `ice-candidate` relay; besides the
// SPEC fields (`to`, `offer` | `answer` | `candidate`) each message carries:
//   session     a random id of this page load, so a peer that reloads (same participant id, new
//               page) is recognised and its call rebuilt instead of patched with foreign SDP;
//   to_session  the recipient's page id when known, so messages for a closed page are dropped;
//   roles       {mid: "audio" | "camera" | "screen"} for the sender's own transceivers, so the
//               receiver knows which incoming video is the camera and which the shared screen.
// The server relays these bodies untouched.
//
// Each side sends on its own transceivers: audio, camera and (while presenting) screen. A side
// that receives a first offer adopts the offer's audio and camera m-lines to send its own media
// back, so a call needs one offer/answer round trip. Emits `peer` (a call was created or closed),
// `tracks` (remote media changed), `state` (connection state or quality changed) and `levels`.

import { CLIENT } from './events.js';
import { cameraEncoding, screenEncoding } from './media.js';

/** How often connection statistics are sampled (quality indicator, frames decoded). */
const STATS_MS = 1000;
/** How often remote audio levels are read (active-speaker detection). */
const LEVELS_MS = 250;
/** An unanswered offer older than this is given up (rolled back and offered again). */
const OFFER_TIMEOUT_MS = 8000;
/** A crossing offer may override ours when ours has waited this long (its answer was lost). */
const STALE_OFFER_MS = 3000;
/** ICE `disconnected` for this long triggers an ICE restart (`failed` restarts at once). */
const DISCONNECTED_RESTART_MS = 4000;
/**
 * A call kept while its person is missing from the server's list (see `Mesh.sync`) is closed
 * after this long unless they reappear; the server's own reconnect grace is shorter.
 */
const HOLD_MS = 120000;

function randomId() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') return window.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** Quality from round-trip time (seconds) and packet loss (0–1). */
export function rateQuality(rtt, loss) {
  if (rtt == null && loss == null) return 'unknown';
  if ((loss ?? 0) > 0.08 || (rtt ?? 0) > 0.5) return 'poor';
  if ((loss ?? 0) > 0.02 || (rtt ?? 0) > 0.25) return 'fair';
  return 'good';
}

/**
 * A counter that only grows for the life of a call. Chrome recreates a receive stream when a
 * renegotiation changes its parameters (an ICE restart offered by the other side, say), and that
 * stream's `framesDecoded` starts again from 0; this keeps counting from where it was.
 */
class Running {
  constructor() {
    this.base = 0;
    this.last = 0;
  }

  update(raw) {
    if (raw < this.last) this.base += this.last;
    this.last = raw;
    return this.base + raw;
  }
}

class Peer {
  constructor(mesh, id, { initiate, remoteSession = null }) {
    this.mesh = mesh;
    this.id = id;
    /** Which call of this page this is (1, 2, …): a replaced call gets a new number. */
    this.serial = ++mesh.calls;
    this.polite = mesh.selfId < id;
    this.remoteSession = remoteSession;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingAnswer = false;
    this.offerAt = 0;
    this.closed = false;
    this.own = { audio: null, camera: null, screen: null };
    this.remoteRoles = {};
    /** Remote camera + microphone, and the remote screen when they present. */
    this.stream = new MediaStream();
    this.screen = new MediaStream();
    this.queue = Promise.resolve();
    this.state = 'new';
    this.quality = 'unknown';
    this.stats = { rtt: null, loss: null, framesDecoded: 0, screenFramesDecoded: 0, fps: 0, relayed: false };
    this.prev = null;
    this.frames = new Running();
    this.screenFrames = new Running();
    this.level = 0;
    this.disconnectedTimer = null;
    /** Kept while the server does not list them (`Mesh.hold`): closed unless they come back. */
    this.holdTimer = null;

    const pc = new RTCPeerConnection(mesh.rtcConfig());
    this.pc = pc;
    pc.onnegotiationneeded = () => this.offer();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.signal(CLIENT.ICE_CANDIDATE, { candidate: candidate.toJSON() });
    };
    pc.ontrack = (e) => this.onTrack(e);
    pc.onconnectionstatechange = () => this.onState();
    pc.oniceconnectionstatechange = () => this.onIceState();

    if (initiate) this.addOwn();
    if (mesh.screenTrack) this.setScreen(mesh.screenTrack);
  }

  /** Sends on new transceivers of our own (when we start the call, or after crossing offers). */
  addOwn() {
    const m = this.mesh.media;
    if (!this.own.audio) {
      this.own.audio = this.pc.addTransceiver(m.audioTrack || 'audio', { direction: 'sendrecv', streams: [m.stream] });
    }
    if (!this.own.camera) {
      this.own.camera = this.pc.addTransceiver(m.videoTrack || 'video', { direction: 'sendrecv', streams: [m.stream] });
    }
  }

  /** Answering a first offer: send our media back on the offer's own audio and camera lines. */
  adopt() {
    const m = this.mesh.media;
    for (const t of this.pc.getTransceivers()) {
      const role = this.remoteRoles[t.mid];
      if (t.currentDirection === 'stopped' || !role) continue;
      if (role === 'audio' && !this.own.audio) this.own.audio = t;
      else if (role === 'camera' && !this.own.camera) this.own.camera = t;
      else continue;
      t.direction = 'sendrecv';
      const track = role === 'audio' ? m.audioTrack : m.videoTrack;
      t.sender.replaceTrack(track).catch(() => {});
      if (typeof t.sender.setStreams === 'function') t.sender.setStreams(m.stream);
    }
    // Lines the offer did not have (it sent no audio, say): add our own, negotiated next.
    if (!this.own.audio || !this.own.camera) this.addOwn();
  }

  /** Which of our m-lines carries what, for the other side. */
  roles() {
    const r = {};
    for (const [role, t] of Object.entries(this.own)) if (t && t.mid) r[t.mid] = role;
    return r;
  }

  signal(event, body) {
    if (this.closed) return;
    this.mesh.send(event, { to: this.id, ...body, session: this.mesh.session, to_session: this.remoteSession });
  }

  sendDescription() {
    const d = this.pc.localDescription;
    if (!d) return;
    this.signal(d.type === 'offer' ? CLIENT.OFFER : CLIENT.ANSWER, { [d.type]: { type: d.type, sdp: d.sdp }, roles: this.roles() });
  }

  async offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.offerAt = Date.now();
      this.mesh.debug(`call ${this.serial} with ${this.id}: offering`);
      this.sendDescription();
    } catch (err) {
      this.mesh.warn(`offer to ${this.id} failed`, err);
    } finally {
      this.makingOffer = false;
    }
  }

  /** Runs signaling messages one at a time, in arrival order. */
  enqueue(event, msg) {
    this.queue = this.queue.then(() => this.handle(event, msg)).catch((err) => this.mesh.warn(`${event} from ${this.id}`, err));
  }

  async handle(event, msg) {
    if (this.closed) return;
    const pc = this.pc;
    if (event === CLIENT.ICE_CANDIDATE) {
      if (!msg.candidate || typeof msg.candidate !== 'object') return;
      try {
        await pc.addIceCandidate(msg.candidate);
      } catch (err) {
        if (!this.ignoreOffer) throw err;
      }
      return;
    }
    const description = msg[event];
    if (!description || typeof description.sdp !== 'string' || description.type !== event) return;
    const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingAnswer);
    const collision = event === CLIENT.OFFER && !readyForOffer;
    // Our offer went unanswered for a while (lost with a dropped connection): let theirs win.
    const stale = collision && pc.signalingState === 'have-local-offer' && Date.now() - this.offerAt > STALE_OFFER_MS;
    this.ignoreOffer = !this.polite && collision && !stale;
    this.mesh.debug(`call ${this.serial} with ${this.id}: ${event} received${collision ? (this.ignoreOffer ? ', crossing ours: ignored' : ', crossing ours: taken') : ''}`);
    if (this.ignoreOffer) return;
    if (event === CLIENT.ANSWER && pc.signalingState !== 'have-local-offer') return; // a late duplicate
    if (msg.roles && typeof msg.roles === 'object') this.remoteRoles = { ...msg.roles };
    this.settingAnswer = event === CLIENT.ANSWER;
    try {
      await pc.setRemoteDescription(description); // rolls our own offer back on a collision
    } finally {
      this.settingAnswer = false;
    }
    if (event === CLIENT.OFFER) {
      this.adopt();
      await pc.setLocalDescription();
      this.sendDescription();
    }
  }

  onTrack({ track, transceiver }) {
    const role = this.remoteRoles[transceiver.mid] || (track.kind === 'audio' ? 'audio' : 'camera');
    this.mesh.debug(`call ${this.serial} with ${this.id}: receiving ${role} on m-line ${transceiver.mid}`);
    const target = role === 'screen' ? this.screen : this.stream;
    for (const old of target.getTracks()) if (old.kind === track.kind && old !== track) target.removeTrack(old);
    if (!target.getTracks().includes(track)) target.addTrack(track);
    const changed = () => this.mesh.emit('tracks', { id: this.id });
    track.addEventListener('unmute', changed);
    track.addEventListener('mute', changed);
    track.addEventListener('ended', changed);
    changed();
  }

  onState() {
    const s = this.pc.connectionState;
    this.state = s;
    if (s === 'connected') this.mesh.applyEncodings(this);
    this.mesh.emit('state', { id: this.id });
  }

  onIceState() {
    const s = this.pc.iceConnectionState;
    this.mesh.debug(`call ${this.serial} with ${this.id}: ICE ${s}`);
    clearTimeout(this.disconnectedTimer);
    if (this.holdTimer && !this.healthy()) {
      // Held for someone the server does not list, and the media stopped: they are gone.
      this.mesh.remove(this.id, 'not in the room, and the call dropped');
      return;
    }
    if (s === 'failed') {
      this.restartIce();
    } else if (s === 'disconnected') {
      this.disconnectedTimer = setTimeout(() => {
        if (!this.closed && this.pc.iceConnectionState === 'disconnected') this.restartIce();
      }, DISCONNECTED_RESTART_MS);
    }
  }

  /** ICE is up: media flows between the two browsers whatever the signaling server does. */
  healthy() {
    const s = this.pc.iceConnectionState;
    return s === 'connected' || s === 'completed';
  }

  restartIce() {
    if (this.closed) return;
    this.mesh.warn(`restarting ICE with ${this.id}`);
    this.pc.restartIce(); // negotiationneeded follows, with fresh ICE credentials
  }

  /** Gives up an offer nobody answered, and offers again. */
  async checkStuck(now) {
    if (this.closed || this.makingOffer) return;
    if (this.pc.signalingState !== 'have-local-offer' || now - this.offerAt < OFFER_TIMEOUT_MS) return;
    this.offerAt = now;
    try {
      await this.pc.setLocalDescription({ type: 'rollback' });
      this.pc.restartIce();
    } catch (err) {
      this.mesh.warn(`re-offer to ${this.id}`, err);
    }
  }

  /** Our local tracks changed (device switch, camera on/off). */
  refreshTracks() {
    const m = this.mesh.media;
    const set = (t, track) => {
      if (t && t.sender.track !== track) t.sender.replaceTrack(track).catch((err) => this.mesh.warn('replaceTrack', err));
    };
    set(this.own.audio, m.audioTrack);
    set(this.own.camera, m.videoTrack);
  }

  async setScreen(track) {
    if (this.closed) return;
    try {
      if (track) {
        if (!this.own.screen) {
          this.own.screen = this.pc.addTransceiver(track, { direction: 'sendonly', streams: [this.mesh.media.screenStream] });
        } else {
          await this.own.screen.sender.replaceTrack(track);
          this.own.screen.direction = 'sendonly';
        }
      } else if (this.own.screen) {
        await this.own.screen.sender.replaceTrack(null);
        this.own.screen.direction = 'inactive';
      }
      this.mesh.applyEncodings(this);
    } catch (err) {
      this.mesh.warn(`screen to ${this.id}`, err);
    }
  }

  /** Sampled statistics → quality, frames decoded, relay use. */
  async sample() {
    if (this.closed) return;
    let report;
    try {
      report = await this.pc.getStats();
    } catch {
      return;
    }
    const cameraTrack = this.stream.getVideoTracks()[0];
    const screenTrack = this.screen.getVideoTracks()[0];
    let pairId = null;
    let fallback = null;
    let lost = 0;
    let received = 0;
    let frames = 0;
    let screenFrames = 0;
    let fps = 0;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') fallback = s;
      if (s.type === 'inbound-rtp') {
        lost += s.packetsLost || 0;
        received += s.packetsReceived || 0;
        if (s.kind === 'video') {
          const isScreen = screenTrack && s.trackIdentifier === screenTrack.id;
          if (isScreen) screenFrames += s.framesDecoded || 0;
          else if (!cameraTrack || s.trackIdentifier === cameraTrack.id || !s.trackIdentifier) {
            frames += s.framesDecoded || 0;
            fps = Math.max(fps, s.framesPerSecond || 0);
          }
        }
      }
    });
    const pair = (pairId && report.get(pairId)) || fallback;
    const rtt = pair && typeof pair.currentRoundTripTime === 'number' ? pair.currentRoundTripTime : null;
    const local = pair && report.get(pair.localCandidateId);
    let loss = null;
    if (this.prev) {
      const dl = lost - this.prev.lost;
      const dr = received - this.prev.received;
      if (dl + dr > 0) loss = Math.max(0, dl) / (Math.max(0, dl) + Math.max(0, dr));
    }
    this.prev = { lost, received };
    this.stats = {
      rtt,
      loss,
      framesDecoded: this.frames.update(frames),
      screenFramesDecoded: this.screenFrames.update(screenFrames),
      fps,
      relayed: !!(local && local.candidateType === 'relay'),
    };
    const quality = this.state === 'connected' ? rateQuality(rtt, loss) : this.state === 'failed' ? 'poor' : 'unknown';
    this.quality = quality;
    this.mesh.emit('state', { id: this.id });
  }

  /** Loudest recent audio level from this peer (0–1), from the receiver's sources. */
  readLevel() {
    let level = 0;
    for (const r of this.pc.getReceivers()) {
      if (!r.track || r.track.kind !== 'audio' || typeof r.getSynchronizationSources !== 'function') continue;
      for (const src of r.getSynchronizationSources()) {
        // Timestamps are wall-clock in some browsers and page-relative in others.
        const fresh = Math.abs(Date.now() - src.timestamp) < 1000 || Math.abs(performance.now() - src.timestamp) < 1000;
        if (fresh) level = Math.max(level, src.audioLevel || 0);
      }
    }
    this.level = level;
    return level;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.disconnectedTimer);
    clearTimeout(this.holdTimer);
    this.pc.onnegotiationneeded = null;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    this.pc.close();
  }
}

/**
 * All of this page's calls. `send(event, body)` emits a signaling event on the room socket;
 * `media` is the LocalMedia whose tracks every call sends.
 */
export class Mesh extends EventTarget {
  constructor({ selfId, send, media, iceServers = [], relayOnly = false, warn }) {
    super();
    this.selfId = selfId;
    this.send = send;
    this.media = media;
    this.iceServers = iceServers;
    this.relayOnly = relayOnly;
    this.session = randomId();
    this.peers = new Map();
    this.screenTrack = null;
    this.warn = warn || ((what, err) => console.warn(`[mesh] ${what}`, err || ''));
    /** Calls created so far (each call's `serial`). */
    this.calls = 0;
    this.statsTimer = setInterval(() => this.sampleAll(), STATS_MS);
    this.levelsTimer = setInterval(() => this.readLevels(), LEVELS_MS);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** The mesh's decisions, at the console's verbose level (for "why did my call restart?"). */
  debug(what) {
    console.debug(`[mesh] ${what}`);
  }

  rtcConfig() {
    return {
      iceServers: this.iceServers,
      iceTransportPolicy: this.relayOnly ? 'relay' : 'all',
      bundlePolicy: 'max-bundle',
    };
  }

  setIceServers(servers) {
    if (!Array.isArray(servers)) return;
    this.iceServers = servers;
    for (const p of this.peers.values()) {
      try {
        p.pc.setConfiguration({ ...p.pc.getConfiguration(), iceServers: servers });
      } catch (err) {
        this.warn('setConfiguration', err);
      }
    }
  }

  create(id, opts) {
    const peer = new Peer(this, id, opts);
    this.debug(`call ${peer.serial} with ${id}: ${opts.initiate ? 'calling' : 'answering'}`);
    this.peers.set(id, peer);
    this.emit('peer', { id });
    this.applyEncodingsAll();
    return peer;
  }

  /**
   * The participants present now (from `room-joined`): calls to anyone new are started from
   * this side; existing calls are kept, so a socket reconnect does not interrupt them. A call
   * to someone the list lacks is closed, unless its media still flows: after a server restart
   * people reconnect one by one, so the first snapshots miss people who are still in the call.
   * Such a call is held (`hold`) until they reappear (`keep`), leave, or its media stops.
   */
  sync(ids) {
    const want = new Set(ids.filter((id) => id && id !== this.selfId));
    for (const [id, p] of [...this.peers]) {
      if (want.has(id)) this.keep(id);
      else if (p.healthy()) this.hold(id);
      else this.remove(id, 'not in the room');
    }
    for (const id of want) if (!this.peers.has(id)) this.create(id, { initiate: true });
  }

  /** Keeps a working call to someone the server does not list (yet); see `sync`. */
  hold(id) {
    const p = this.peers.get(id);
    if (!p || p.holdTimer) return;
    this.debug(`call ${p.serial} with ${id}: kept while they reconnect`);
    p.holdTimer = setTimeout(() => this.remove(id, 'did not come back'), HOLD_MS);
  }

  /** They are listed again (`user-joined`, or a later snapshot): a held call is theirs again. */
  keep(id) {
    const p = this.peers.get(id);
    if (!p || !p.holdTimer) return;
    clearTimeout(p.holdTimer);
    p.holdTimer = null;
    this.debug(`call ${p.serial} with ${id}: they are back`);
  }

  /** Ids of held calls (people the page keeps showing while they reconnect). */
  held() {
    return [...this.peers].filter(([, p]) => p.holdTimer).map(([id]) => id);
  }

  remove(id, why = 'they left') {
    const p = this.peers.get(id);
    if (!p) return;
    this.debug(`call ${p.serial} with ${id}: closed (${why})`);
    p.close();
    this.peers.delete(id);
    this.emit('peer', { id });
    this.applyEncodingsAll();
  }

  /** A relayed `offer` / `answer` / `ice-candidate` from the server. */
  receive(event, msg) {
    if (!msg || typeof msg !== 'object') return;
    const from = msg.from;
    if (typeof from !== 'string' || !from || from === this.selfId) return;
    if (msg.to_session && msg.to_session !== this.session) return; // for an earlier load of this page
    let peer = this.peers.get(from);
    if (peer && msg.session && peer.remoteSession && msg.session !== peer.remoteSession) {
      if (event !== CLIENT.OFFER) return; // from the other side's previous page
      this.remove(from, 'they reloaded'); // a new call replaces the old one
      peer = null;
    }
    if (!peer) {
      if (event !== CLIENT.OFFER) return;
      peer = this.create(from, { initiate: false, remoteSession: msg.session || null });
    }
    if (!peer.remoteSession && msg.session) peer.remoteSession = msg.session;
    peer.enqueue(event, msg);
  }

  /** Local tracks changed: every call sends the new ones (no renegotiation needed). */
  refreshTracks() {
    for (const p of this.peers.values()) p.refreshTracks();
  }

  setScreen(track) {
    this.screenTrack = track;
    for (const p of this.peers.values()) p.setScreen(track);
  }

  /** Per-copy bitrate and scale for the current mesh size. */
  applyEncodings(peer) {
    const n = this.peers.size;
    const apply = (t, enc) => {
      if (!t || !t.sender) return;
      const params = t.sender.getParameters();
      if (!params.encodings || !params.encodings.length) return; // not negotiated yet
      params.encodings = params.encodings.map((e) => ({ ...e, ...enc }));
      t.sender.setParameters(params).catch(() => {});
    };
    try {
      apply(peer.own.camera, cameraEncoding(n));
      apply(peer.own.screen, screenEncoding(n));
    } catch {
      // getParameters before negotiation can throw in some browsers; applied again once connected.
    }
  }

  applyEncodingsAll() {
    for (const p of this.peers.values()) this.applyEncodings(p);
  }

  sampleAll() {
    const now = Date.now();
    for (const p of this.peers.values()) {
      p.sample();
      p.checkStuck(now);
    }
  }

  readLevels() {
    const levels = new Map();
    for (const [id, p] of this.peers) levels.set(id, p.readLevel());
    this.emit('levels', { levels });
  }

  close() {
    clearInterval(this.statsTimer);
    clearInterval(this.levelsTimer);
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
  }
}
