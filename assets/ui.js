// ui.js: tiny DOM helpers shared by the pages (element lookup, form errors, busy buttons).

/** The element with this id; throws early if a page and its script disagree. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/**
 * Shows (or clears, with an empty message) an error in a form's alert region, marking the
 * offending input invalid and moving focus to it so keyboard and screen-reader users land there.
 */
export function showFormError(region, message, input = null) {
  region.textContent = message || '';
  for (const el of region.closest('form')?.querySelectorAll('[aria-invalid]') ?? []) {
    el.removeAttribute('aria-invalid');
  }
  if (message && input) {
    input.setAttribute('aria-invalid', 'true');
    if (input.closest('details') && !input.closest('details').open) input.closest('details').open = true;
    input.focus();
  }
}

/** Disables a button with a progress label; returns a function that restores it. */
export function busy(button, label) {
  const original = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.textContent = label;
  return () => {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = original;
  };
}

/** Shows exactly one of several sections. */
export function showOnly(sections, visible) {
  for (const s of sections) s.hidden = s !== visible;
}
