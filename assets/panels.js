// panels.js: which part of the room shows. On a desktop (64rem and wider) the stage and call
// controls are always there and the side column shows Chat or People; narrower, one view at a
// time (Video, Chat or People), picked from the bottom bar. The bar follows the ARIA tabs
// pattern: one tab in the tab order, arrow keys, Home and End move between tabs. room.js asks
// `showing(panel)` to know whether chat is read, and hears `change` to update counts.

const WIDE = window.matchMedia('(min-width: 64rem)');

export class Panels extends EventTarget {
  /** `room` carries `data-panel`; `tablist` holds the `[role=tab][data-panel]` buttons. */
  constructor(room, tablist) {
    super();
    this.room = room;
    this.tabs = [...tablist.querySelectorAll('[role="tab"]')];
    this.chosen = 'video';
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => this.show(tab.dataset.panel));
    }
    tablist.addEventListener('keydown', (event) => this.onKey(event));
    WIDE.addEventListener('change', () => this.render());
    this.render();
  }

  /** True on a desktop-sized window (the stage is always visible there). */
  get wide() {
    return WIDE.matches;
  }

  /** The panel showing now: on a desktop the side column never shows "video" (chat then). */
  get current() {
    return this.wide && this.chosen === 'video' ? 'chat' : this.chosen;
  }

  /** Whether `panel` ('video', 'chat' or 'people') is on screen now. */
  showing(panel) {
    if (panel === 'video') return this.wide || this.current === 'video';
    return this.current === panel;
  }

  show(panel, { focus = false } = {}) {
    if (!this.tabs.some((t) => t.dataset.panel === panel)) return;
    this.chosen = panel;
    this.render();
    if (focus) this.tabs.find((t) => t.dataset.panel === this.current)?.focus();
    this.dispatchEvent(new CustomEvent('change', { detail: { panel: this.current } }));
  }

  render() {
    const current = this.current;
    this.room.dataset.panel = current;
    for (const tab of this.tabs) {
      const selected = tab.dataset.panel === current;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
  }

  /** Tabs that can be chosen here (on a desktop the Video tab is not shown). */
  visibleTabs() {
    return this.tabs.filter((t) => !(this.wide && t.dataset.panel === 'video'));
  }

  onKey(event) {
    const tabs = this.visibleTabs();
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const to = {
      ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: tabs.length - 1,
    }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const tab = tabs[(to + tabs.length) % tabs.length];
    this.show(tab.dataset.panel);
    tab.focus();
  }
}
