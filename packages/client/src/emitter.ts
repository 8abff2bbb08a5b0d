/** A tiny typed event emitter (no Node `events` dependency, so the SDK runs in browsers). */
export class Emitter<Events extends Record<string, (...args: never[]) => void>> {
  #listeners: { [K in keyof Events]?: Set<Events[K]> } = {};

  /** Listen; returns a function that removes the listener. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    (this.#listeners[event] ??= new Set()).add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    this.#listeners[event]?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners[event];
    if (!set) return;
    for (const listener of [...set]) (listener as (...a: Parameters<Events[K]>) => void)(...args);
  }
}
