// shortcuts.js: the room's keyboard shortcuts (single keys, listed in the help dialog) and Esc.
// A shortcut never fires while the user types in a field, with Ctrl/Alt/Meta held (the browser's
// and the screen reader's own keys), or while a dialog is open.

function typing(target) {
  if (!(target instanceof Element)) return false;
  return !!target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
}

/**
 * `keys` maps a lower-case key ('m', 'v', '?') to an action; `escape()` closes whatever popover
 * is open and returns true if it closed one. `active()` says whether the room is on screen.
 */
export function installShortcuts({ keys, escape, active }) {
  document.addEventListener('keydown', (event) => {
    if (!active() || event.defaultPrevented || event.isComposing) return;
    if (event.key === 'Escape') {
      if (escape()) event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target) || document.querySelector('dialog[open]')) return;
    const action = keys[event.key.length === 1 ? event.key.toLowerCase() : ''];
    if (!action) return;
    event.preventDefault();
    action();
  });
}
