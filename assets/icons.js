// icons.js: the few line icons the room uses, drawn as inline SVG so they look the same on every
// system (emoji glyphs are missing on many Linux desktops) and need no image requests.
// Elements with data-icon="name" get theirs at start-up; icon(name) makes one for scripts.

const SVG = 'http://www.w3.org/2000/svg';

/** Path data per icon on a 24×24 grid; `slash` marks the line shown when a switch is off. */
const PATHS = {
  mic: ['M12 3a3 3 0 0 1 3 3v5a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3', { slash: 'M3 3l18 18' }],
  camera: ['M4 6h10a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z', 'M16 10.5l6-3.5v10l-6-3.5', { slash: 'M3 3l18 18' }],
  screen: ['M4 4h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'M8 20h8', 'M12 16v4', 'M12 13V7', 'M9 9.5l3-3 3 3'],
  hand: ['M8 12V5.5a1.5 1.5 0 0 1 3 0V11', 'M11 10.5V4a1.5 1.5 0 0 1 3 0v6.5', 'M14 10.5V5.5a1.5 1.5 0 0 1 3 0V14a7 7 0 0 1-7 7 6 6 0 0 1-5.2-3L3 14.5a1.6 1.6 0 0 1 2.7-1.6L8 15'],
  grid: ['M4 4h6v6H4z', 'M14 4h6v6h-6z', 'M4 14h6v6H4z', 'M14 14h6v6h-6z'],
  speaker: ['M3 4h18v11H3z', 'M3 18h5', 'M10 18h4', 'M16 18h5'],
  chat: ['M4 5h16a1 1 0 0 1 1 1v9a1 1 0 0 1-1 1H10l-5 4v-4H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z'],
  settings: ['M4 7h9', 'M19 7h1', 'M4 17h3', 'M13 17h7', 'M16 5v4', 'M10 15v4'],
  leave: ['M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4', 'M10 8l-4 4 4 4', 'M6 12h10'],
  fullscreen: ['M4 9V4h5', 'M15 4h5v5', 'M20 15v5h-5', 'M9 20H4v-5'],
  pip: ['M3 5h18v14H3z', 'M12 12h7v5h-7z'],
  muted: ['M12 3a3 3 0 0 1 3 3v5a3 3 0 0 1-6 0V6a3 3 0 0 1 3-3z', 'M5 11a7 7 0 0 0 14 0', 'M3 3l18 18'],
  host: ['M12 3l2.6 5.6 6.1.7-4.5 4.2 1.2 6L12 16.6 6.6 19.5l1.2-6L3.3 9.3l6.1-.7z'],
  people: ['M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M2.5 20a6.5 6.5 0 0 1 13 0', 'M16 4.2a3.5 3.5 0 0 1 0 6.6', 'M18 14.2a6.5 6.5 0 0 1 3.5 5.8'],
  keyboard: ['M3 6h18a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1z', 'M6 10h.01', 'M10 10h.01', 'M14 10h.01', 'M18 10h.01', 'M7 14h10'],
  smile: ['M12 3a9 9 0 1 1 0 18 9 9 0 0 1 0-18z', 'M8.5 14a4.5 4.5 0 0 0 7 0', 'M9 9.5h.01', 'M15 9.5h.01'],
};

export function icon(name) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon', `icon-${name}`);
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, 'path');
    if (typeof d === 'string') {
      path.setAttribute('d', d);
    } else {
      path.setAttribute('d', d.slash);
      path.classList.add('slash');
    }
    svg.append(path);
  }
  return svg;
}

/** Gives every `[data-icon]` element its icon, in front of its text. */
export function placeIcons(root = document) {
  for (const el of root.querySelectorAll('[data-icon]')) {
    if (!el.querySelector(':scope > svg.icon')) el.prepend(icon(el.dataset.icon));
  }
}
