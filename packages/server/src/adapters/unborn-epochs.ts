import { newEpoch } from './epoch.js';

/** Epochs remembered for topics read but not watched, oldest forgotten first. */
const RECENT_MAX = 4096;

/**
 * Epochs of topics that have no stored state yet ("unborn"), held in memory so that reading or
 * subscribing to a topic writes nothing. A subscriber told `{ epoch: E, offset: 0 }` must see the
 * topic's first publication under `E`, or it would be told its state is stale for nothing: so a
 * topic watched on this node keeps its unborn epoch until the last watcher leaves, and the
 * topic's first append takes that epoch. A topic only read keeps it in a small bounded cache.
 *
 * Forgetting an unborn epoch is always safe: a client holding it resumes under another epoch and
 * is told `recovered: false`, never handed a wrong replay. The same holds for a topic removed by
 * retention: its next use starts a new epoch.
 */
export class UnbornEpochs {
  readonly #watched = new Map<string, { refs: number; epoch: string | null }>();
  readonly #recent = new Map<string, string>();

  /** The epoch a topic without stored state reports now, and takes on its first append. */
  epochOf(topic: string): string {
    const w = this.#watched.get(topic);
    if (w) return (w.epoch ??= this.#recent.get(topic) ?? newEpoch());
    let epoch = this.#recent.get(topic);
    if (epoch === undefined) {
      epoch = newEpoch();
      this.#recent.set(topic, epoch);
      if (this.#recent.size > RECENT_MAX) this.#recent.delete(this.#recent.keys().next().value!);
    }
    return epoch;
  }

  /** The topic was stored under its epoch: nothing to remember any more. */
  born(topic: string): void {
    this.#recent.delete(topic);
    const w = this.#watched.get(topic);
    if (w) w.epoch = null;
  }

  watch(topic: string): void {
    const w = this.#watched.get(topic);
    if (w) w.refs++;
    else this.#watched.set(topic, { refs: 1, epoch: null });
  }

  unwatch(topic: string): void {
    const w = this.#watched.get(topic);
    if (!w || --w.refs > 0) return;
    this.#watched.delete(topic);
    if (w.epoch !== null) this.#recent.set(topic, w.epoch);
  }

  /** Whether a subscriber on this node listens to `topic` (retention leaves it alone). */
  watched(topic: string): boolean {
    return this.#watched.has(topic);
  }
}
