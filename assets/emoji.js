// emoji.js: the chat's emoji picker set: common reactions with names for screen readers.
// Plain characters (no images), so they render in the system's emoji font.

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
