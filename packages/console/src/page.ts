import { LitElement } from 'lit';
import { ApiError } from './api.js';

/**
 * A console page: light DOM (one stylesheet for all, uPlot's included), a refresh that runs on
 * connect and then every `refreshMs` while the page is shown, and one place for errors.
 */
export abstract class Page extends LitElement {
  static override properties = { error: { state: true } };
  error = '';
  protected refreshMs = 2000;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #alive = false;

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#alive = true;
    void this.#tick();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.#alive = false;
    clearTimeout(this.#timer);
  }

  /** Read now (a filter changed, a button was pressed). */
  reload(): void {
    clearTimeout(this.#timer);
    void this.#tick();
  }

  async #tick(): Promise<void> {
    try {
      await this.refresh();
      this.error = '';
    } catch (err) {
      this.error = err instanceof ApiError ? `${err.code}: ${err.message}` : String(err);
    }
    // One timer at most, however many reads were on their way at once.
    clearTimeout(this.#timer);
    if (this.#alive && this.refreshMs > 0 && this.refreshAllowed())
      this.#timer = setTimeout(() => void this.#tick(), this.refreshMs);
  }

  protected abstract refresh(): Promise<void>;

  /** Whether to keep reading on a timer (an older page of a listing does not move). */
  protected refreshAllowed(): boolean {
    return true;
  }
}
