// sound.js: short synthesized notes (no audio files to fetch): the timer's phase-end chime and
// the raised-hand sound are both a few sine tones with a soft attack and decay.

/**
 * Plays `notes` ([frequency Hz, delay s] pairs) on `ctx` (the page's AudioContext, or null when
 * sound is not allowed yet): each rises to `peak` and fades over `length` seconds.
 */
export function tones(ctx, notes, { peak = 0.2, length = 0.5 } = {}) {
  if (!ctx) return;
  try {
    const start = ctx.currentTime + 0.02;
    for (const [freq, delay] of notes) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      const t = start + delay;
      osc.type = 'sine';
      osc.frequency.setValueAtTime(freq, t);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(peak, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + length + 0.1);
    }
  } catch {
    // No sound is not worth an error message.
  }
}
