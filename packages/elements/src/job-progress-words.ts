import type { JobSnapshot } from '@inloop/protocol';
import { timeLeftInWords, type LocalView } from './local-progress.js';
import { durationInWords } from './words.js';

/** How often, at most, progress is read out to screen readers (stage changes and the end always are). */
export const ANNOUNCE_EVERY_MS = 15_000;

/** A finished job in words: "Done in 12 s", "Cancelled", "Failed: <why>". */
export function outcomeInWords(s: JobSnapshot): string {
  // Done in the time the person waited: since the job was created, its wait in line included.
  if (s.status === 'succeeded') return `Done in ${durationInWords((s.finishedAt ?? s.createdAt) - s.createdAt)}`;
  if (s.status === 'cancelled') return 'Cancelled';
  return `Failed: ${s.error?.message ?? 'something went wrong'}`;
}

/** The warning beside the bar, or '' when the job is on time (or finished). */
export function slowInWords(s: JobSnapshot, view: LocalView, finished: boolean): string {
  if (s.flags.likelyStuck) return 'This is taking much longer than it should.';
  return view.overdue && !finished ? 'Taking longer than usual.' : '';
}

/**
 * What a screen reader hears, through the element's polite live region: the outcome and stage
 * changes at once, progress (the value the bar shows, and the words beside it) at most every
 * {@link ANNOUNCE_EVERY_MS}.
 */
export class Announcer {
  #lastAnnounced = 0;
  #lastStage: string | undefined;
  #lastStatus: string | undefined;

  /** What to read out for this snapshot, if anything; `bar` tells where the bar stands now. */
  next(s: JobSnapshot, bar: () => { fraction: number; view: LocalView }): string | undefined {
    const now = Date.now();
    let text: string | undefined;
    if (
      s.status !== this.#lastStatus &&
      (s.status === 'succeeded' || s.status === 'failed' || s.status === 'cancelled')
    ) {
      text = outcomeInWords(s);
    } else if (s.stage?.name !== undefined && s.stage.name !== this.#lastStage) {
      text = `${s.stage.name}`;
    } else if (now - this.#lastAnnounced >= ANNOUNCE_EVERY_MS && s.status === 'running') {
      const { fraction, view } = bar();
      text = `${Math.floor(fraction * 100)} percent, ${timeLeftInWords(view)}`;
    }
    this.#lastStatus = s.status;
    this.#lastStage = s.stage?.name;
    if (text !== undefined) this.#lastAnnounced = now;
    return text;
  }
}
