// emoji.js: the chat's emoji picker set: common reactions with names for screen readers.
// Plain characters (no images), so they render in the system's emoji font; where there is none
// (many Linux desktops) the picker shows the names instead of empty boxes (canDrawEmoji).

export const EMOJI = [
  ['👍', 'thumbs up'], ['👎', 'thumbs down'], ['👏', 'clapping hands'], ['🙌', 'raising hands'],
  ['🙏', 'folded hands'], ['👋', 'waving hand'], ['💪', 'flexed biceps'], ['✅', 'check mark'],
  ['❌', 'cross mark'], ['❓', 'question mark'], ['😀', 'grinning face'], ['😂', 'tears of joy'],
  ['🙂', 'slightly smiling face'], ['😉', 'winking face'], ['😍', 'heart eyes'], ['🤔', 'thinking face'],
  ['😮', 'surprised face'], ['😅', 'sweat smile'], ['😴', 'sleeping face'], ['🥳', 'party face'],
  ['😬', 'grimacing face'], ['🙈', 'see-no-evil monkey'], ['❤️', 'red heart'], ['🔥', 'fire'],
  ['🎉', 'party popper'], ['⭐', 'star'], ['☕', 'hot beverage'], ['🍅', 'tomato'],
  ['⏰', 'alarm clock'], ['🚀', 'rocket'], ['💡', 'light bulb'], ['🎯', 'direct hit'],
];

/**
 * Whether this system draws colour emoji: one is drawn in black on a canvas; a colour emoji font
 * paints coloured pixels, a missing one an empty box or a grey outline.
 */
export function canDrawEmoji() {
  try {
    const canvas = document.createElement('canvas');
    canvas.width = 32;
    canvas.height = 32;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    if (!g) return true;
    g.textBaseline = 'top';
    g.font = '28px sans-serif';
    g.fillStyle = '#000';
    g.fillText('\u{1F600}', 0, 0);
    const d = g.getImageData(0, 0, 32, 32).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) return true;
    }
    return false;
  } catch {
    return true;
  }
}
