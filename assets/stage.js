// stage.js: the video area of a room: one tile per participant (and one for a shared screen),
// laid out as an even grid, a speaker view (the active speaker large, the rest in a strip) or a
// presentation (the shared screen large). The stage keeps a fixed size, so people joining or
// leaving rearrange tiles inside it and never shift the rest of the page. Tiles carry their
// connection state, quality and decoded-frame count as data attributes (the quality dot reads
// them; so do the browser tests). Rendering only: room.js owns the state and calls update().

import { icon } from './icons.js';

const ASPECT = 16 / 9;

function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || '?').slice(0, 2);
  return letters.toUpperCase();
}

const QUALITY_WORDS = { good: 'good', fair: 'fair', poor: 'poor', unknown: 'being measured' };

function button(label, name, cls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = `tile-tool ${cls}`;
  b.setAttribute('aria-label', label);
  b.title = label;
  b.append(icon(name));
  return b;
}

class Tile {
  constructor(stage, key, kind) {
    this.key = key;
    this.kind = kind; // 'self' | 'remote' | 'screen'
    const fig = document.createElement('figure');
    fig.className = `tile tile-${kind}`;
    fig.dataset.key = key;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = kind !== 'remote'; // our own voice never plays back; a screen has no sound
    video.setAttribute('aria-hidden', 'true');
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    const cap = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'tile-name';
    const icons = document.createElement('span');
    icons.className = 'tile-icons';
    const dot = document.createElement('span');
    dot.className = 'quality-dot';
    dot.setAttribute('role', 'img');
    const status = document.createElement('span');
    status.className = 'tile-status';
    cap.append(dot, name, status, icons);
    // The person's goal for this work block, one line over the caption.
    const goal = document.createElement('p');
    goal.className = 'tile-goal';
    goal.hidden = true;
    const tools = document.createElement('div');
    tools.className = 'tile-tools';
    this.fullscreen = button('Full screen', 'fullscreen', 'fs');
    this.pip = button('Picture in picture', 'pip', 'pip');
    tools.append(this.fullscreen);
    if (document.pictureInPictureEnabled && typeof video.requestPictureInPicture === 'function') tools.append(this.pip);
    fig.append(video, avatar, goal, cap, tools);
    this.el = fig;
    this.video = video;
    this.avatar = avatar;
    this.nameEl = name;
    this.goalEl = goal;
    this.statusEl = status;
    this.icons = icons;
    this.dot = dot;
    this.stream = null;
    this.fullscreen.addEventListener('click', () => stage.toggleFullscreen(this));
    this.pip.addEventListener('click', () => stage.togglePip(this));
  }

  setStream(stream) {
    if (this.video.srcObject !== stream) {
      this.video.srcObject = stream;
    }
    if (stream && this.video.paused) this.play();
  }

  play() {
    const p = this.video.play();
    if (p && typeof p.catch === 'function') {
      p.catch((err) => {
        if (err && err.name === 'NotAllowedError') this.onBlocked?.();
      });
    }
  }
}

export class Stage {
  /**
   * `root` holds the tiles; `onBlocked` is called when the browser refuses to play sound without
   * a click (the room then offers a button that calls `resume()`).
   */
  constructor(root, { onBlocked } = {}) {
    this.root = root;
    this.tiles = new Map();
    this.view = 'grid';
    this.onBlocked = onBlocked;
    this.last = null;
    if (typeof ResizeObserver === 'function') {
      this.resize = new ResizeObserver(() => this.layout());
      this.resize.observe(root);
    }
  }

  tile(key, kind) {
    let t = this.tiles.get(key);
    if (!t) {
      t = new Tile(this, key, kind);
      t.onBlocked = () => this.onBlocked?.();
      this.tiles.set(key, t);
      this.root.append(t.el);
    }
    return t;
  }

  /**
   * Redraws from the room's state:
   * {selfId, people: [{participant_id, display_name, role, hand_raised, audio, video, goal,
 *  statusText}],
   *  local: {stream, audio, video}, peers: Map(id → {stream, screen, state, quality, stats}),
   *  presenterId, screenStream (ours, when presenting), speaking: Set(id), activeId}
   */
  update(s) {
    this.last = s;
    const keep = new Set();
    for (const p of s.people) {
      const self = p.participant_id === s.selfId;
      const key = p.participant_id;
      keep.add(key);
      const t = this.tile(key, self ? 'self' : 'remote');
      const peer = self ? null : s.peers.get(key);
      const stream = self ? s.local.stream : peer && peer.stream;
      t.setStream(stream || null);
      const videoOn = self ? s.local.video : p.video !== false;
      const hasVideo = !!(stream && stream.getVideoTracks().some((v) => v.readyState === 'live' && !v.muted));
      t.el.classList.toggle('no-video', !(videoOn && hasVideo));
      t.el.classList.toggle('speaking', s.speaking.has(key));
      t.el.classList.toggle('active', s.activeId === key);
      t.el.dataset.host = p.role === 'host' ? 'true' : 'false';
      if (t.avatar.textContent !== initials(p.display_name)) t.avatar.textContent = initials(p.display_name);
      const label = self ? `${p.display_name} (you)` : p.display_name;
      if (t.nameEl.textContent !== label) t.nameEl.textContent = label;
      const statusText = p.statusText || '';
      if (t.statusEl.textContent !== statusText) t.statusEl.textContent = statusText;
      t.statusEl.hidden = !statusText;
      const goal = p.goal || '';
      if (t.goalEl.textContent !== goal) t.goalEl.textContent = goal;
      t.goalEl.hidden = !goal;
      t.goalEl.title = goal;
      const icons = [];
      if (p.role === 'host') icons.push('host');
      if (p.hand_raised) icons.push('hand');
      if ((self ? !s.local.audio : p.audio === false)) icons.push('muted');
      const iconKey = icons.join(' ');
      if (t.icons.dataset.icons !== iconKey) {
        t.icons.dataset.icons = iconKey;
        t.icons.replaceChildren(...icons.map((n) => icon(n)));
      }
      t.el.setAttribute('aria-label', [
        label, p.role === 'host' ? 'host' : '', p.hand_raised ? 'hand raised' : '',
        (self ? !s.local.audio : p.audio === false) ? 'microphone off' : '', !videoOn ? 'camera off' : '',
        statusText.toLowerCase(), goal ? `goal: ${goal}` : '',
      ].filter(Boolean).join(', '));
      if (self) {
        t.dot.hidden = true;
      } else {
        const q = peer ? (peer.state === 'connected' ? peer.quality : peer.state) : 'unknown';
        t.el.dataset.conn = peer ? peer.state : 'none';
        t.el.dataset.quality = q;
        t.el.dataset.frames = String(peer ? peer.stats.framesDecoded : 0);
        t.el.dataset.call = String(peer ? peer.serial : 0);
        t.el.dataset.relayed = peer && peer.stats.relayed ? '1' : '0';
        t.dot.dataset.quality = q;
        const words = peer && peer.state !== 'connected'
          ? `connection ${peer.state === 'failed' ? 'failed, retrying' : 'starting'}`
          : `connection ${QUALITY_WORDS[q] || q}${peer && peer.stats.relayed ? ' (through the relay)' : ''}`;
        t.dot.setAttribute('aria-label', words);
        t.dot.title = words;
      }
      t.fullscreen.setAttribute('aria-label', `Full screen: ${label}`);
      t.pip.setAttribute('aria-label', `Picture in picture: ${label}`);
    }

    // The shared screen, ours or someone else's.
    const pres = s.presenterId && s.people.find((p) => p.participant_id === s.presenterId);
    if (pres) {
      const key = `screen:${pres.participant_id}`;
      const mine = pres.participant_id === s.selfId;
      const stream = mine ? s.screenStream : s.peers.get(pres.participant_id)?.screen;
      const live = !!(stream && stream.getVideoTracks().some((v) => v.readyState === 'live'));
      if (live) {
        keep.add(key);
        const t = this.tile(key, 'screen');
        t.setStream(stream);
        const label = mine ? 'Your screen' : `${pres.display_name}'s screen`;
        if (t.nameEl.textContent !== label) t.nameEl.textContent = label;
        t.el.setAttribute('aria-label', label);
        t.avatar.textContent = '';
        t.dot.hidden = true;
        t.el.dataset.frames = String(mine ? 0 : s.peers.get(pres.participant_id)?.stats.screenFramesDecoded || 0);
        t.fullscreen.setAttribute('aria-label', `Full screen: ${label}`);
        t.pip.setAttribute('aria-label', `Picture in picture: ${label}`);
      }
    }

    for (const [key, t] of this.tiles) {
      if (keep.has(key)) continue;
      t.video.srcObject = null;
      t.el.remove();
      this.tiles.delete(key);
    }
    this.layout();
  }

  setView(view) {
    this.view = view === 'speaker' ? 'speaker' : 'grid';
    this.layout();
  }

  /** Which tile is large: a shared screen first, then (speaker view) the active speaker. */
  focusKey() {
    const s = this.last;
    if (!s) return null;
    const screen = [...this.tiles.keys()].find((k) => k.startsWith('screen:'));
    if (screen) return screen;
    if (this.view !== 'speaker' || this.tiles.size < 2) return null;
    if (s.activeId && this.tiles.has(s.activeId)) return s.activeId;
    const other = s.people.find((p) => p.participant_id !== s.selfId);
    return other ? other.participant_id : null;
  }

  /** Places tiles: even grid sized to fill the stage, or one large tile plus a strip. */
  layout() {
    const n = this.tiles.size;
    const focus = this.focusKey();
    const W = this.root.clientWidth || 1;
    const H = this.root.clientHeight || 1;
    this.root.dataset.layout = focus ? 'focus' : 'grid';
    this.root.dataset.count = String(n);
    for (const [key, t] of this.tiles) t.el.classList.toggle('focus', key === focus);
    // Order: the focus tile first, then self, then the others in join order (stable).
    let order = 0;
    if (focus) this.tiles.get(focus).el.style.order = String(order++);
    for (const [key, t] of this.tiles) if (key !== focus) t.el.style.order = String(order++);
    if (focus) {
      const strip = Math.max(1, n - 1);
      this.root.style.setProperty('--cols', String(strip));
      this.root.style.setProperty('--rows', '1');
      return;
    }
    let best = { cols: 1, rows: n || 1, size: 0 };
    for (let cols = 1; cols <= Math.max(1, n); cols += 1) {
      const rows = Math.ceil(Math.max(1, n) / cols);
      const w = Math.min(W / cols, (H / rows) * ASPECT);
      if (w > best.size) best = { cols, rows, size: w };
    }
    this.root.style.setProperty('--cols', String(best.cols));
    this.root.style.setProperty('--rows', String(best.rows));
  }

  toggleFullscreen(t) {
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(() => {});
    } else if (t.el.requestFullscreen) {
      t.el.requestFullscreen().catch(() => {});
    }
  }

  togglePip(t) {
    if (document.pictureInPictureElement === t.video) {
      document.exitPictureInPicture().catch(() => {});
    } else {
      t.video.requestPictureInPicture().catch(() => {});
    }
  }

  /** After a click: plays every tile the browser had refused to start with sound. */
  resume() {
    for (const t of this.tiles.values()) if (t.video.srcObject && t.video.paused) t.play();
  }

  clear() {
    for (const t of this.tiles.values()) {
      t.video.srcObject = null;
      t.el.remove();
    }
    this.tiles.clear();
  }
}
