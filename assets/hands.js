// hands.js: raised hands as the room sees them: the queue (in the order hands went up, by the
// server's `hand_raised_at`, so every page agrees), the host's "Lower" buttons, a toast over
// the stage, an optional short two-note sound and a screen-reader announcement. Rendering
// only: room.js owns the participants and sends `lower-hand`.

import { icon } from './icons.js';
import { tones } from './sound.js';

/** Raised hands, first raised first. */
export function queue(people) {
  return people
    .filter((p) => p.hand_raised)
    .sort((a, b) => (a.hand_raised_at ?? Infinity) - (b.hand_raised_at ?? Infinity));
}

/** Fills the queue list: "1. Ada" … with a Lower button per hand for the host. */
export function renderQueue(list, raised, { amHost, selfId }) {
  list.replaceChildren(...raised.map((p) => {
    const li = document.createElement('li');
    li.dataset.id = p.participant_id;
    const name = document.createElement('span');
    name.className = 'hand-name';
    name.textContent = p.participant_id === selfId ? `${p.display_name} (you)` : p.display_name;
    li.append(name);
    if (amHost) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'button small subtle';
      b.dataset.lower = p.participant_id;
      b.textContent = 'Lower';
      const who = document.createElement('span');
      who.className = 'visually-hidden';
      who.textContent = ` ${p.display_name}'s hand`;
      b.append(who);
      li.append(b);
    }
    return li;
  }));
}

/** A short note over the stage that fades by itself (screen readers hear the live region). */
export function toast(container, text, iconName = '', ms = 4000) {
  const t = document.createElement('p');
  t.className = 'toast';
  if (iconName) t.append(icon(iconName));
  t.append(text);
  container.append(t);
  while (container.children.length > 3) container.firstElementChild.remove();
  setTimeout(() => t.remove(), ms);
}

/** Two soft rising notes, when sound is allowed (`ctx` is the page's AudioContext or null). */
export function handSound(ctx) {
  tones(ctx, [[660, 0], [880, 0.12]], { peak: 0.12, length: 0.25 });
}
