import { html, LitElement, nothing } from 'lit';
import { api, ApiError, credential, onSignedOut } from './api.js';
import './style.css';
import './chart.js';
import './pages/jobs.js';
import './pages/job.js';
import './pages/types.js';
import './pages/budget.js';
import './pages/topics.js';
import './pages/nodes.js';

const PAGES = [
  ['jobs', 'Jobs'],
  ['types', 'Types'],
  ['budget', 'Budget'],
  ['topics', 'Topics & people'],
  ['nodes', 'Nodes'],
] as const;

/**
 * `<inloop-console>`: sign-in, navigation and the page for the location's hash
 * (`#/jobs`, `#/jobs/<id>`, `#/types/<type>`, `#/budget`, `#/topics`, `#/nodes`).
 */
class InloopConsole extends LitElement {
  static override properties = { signedIn: { state: true }, route: { state: true }, refusal: { state: true } };
  signedIn = credential.get() !== null;
  route = location.hash;
  refusal = '';

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    addEventListener('hashchange', () => {
      this.route = location.hash;
      void this.#focusHeading();
    });
    onSignedOut(() => {
      credential.clear();
      this.signedIn = false;
      this.refusal = 'The node no longer accepts this key: sign in again.';
    });
  }

  /** Move focus to the page's heading, as a page load would (once the page itself has rendered). */
  async #focusHeading(): Promise<void> {
    await this.updateComplete;
    const page = this.querySelector('main > *');
    if (page instanceof LitElement) await page.updateComplete;
    this.querySelector<HTMLElement>('main h1')?.focus();
  }

  async #signIn(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    const input = this.querySelector<HTMLInputElement>('#key')!;
    const key = input.value.trim();
    try {
      await api('/v1/console/nodes', {}, key);
      credential.set(key);
      this.refusal = '';
      this.signedIn = true;
      void this.#focusHeading();
    } catch (err) {
      this.refusal =
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? 'Refused: this is not an API key (or admin token) of this node.'
          : `The node could not be reached: ${String(err)}`;
      input.focus();
    }
  }

  #signOut(): void {
    credential.clear();
    this.signedIn = false;
  }

  protected override render() {
    if (!this.signedIn)
      return html`<main class="signin">
        <h1>Inloop console</h1>
        <form @submit=${(e: SubmitEvent) => void this.#signIn(e)}>
          <label for="key">API key or admin token</label>
          <input id="key" name="key" type="password" autocomplete="current-password" required />
          <button type="submit">Sign in</button>
          <p class="hint">Kept in this tab only (sessionStorage), sent as a Bearer header.</p>
          ${this.refusal ? html`<p class="refusal" role="alert">${this.refusal}</p>` : nothing}
        </form>
      </main>`;
    const [, page = 'jobs', arg = ''] = this.route.split('/').map(decodeURIComponent);
    return html`<header>
        <a class="brand" href="#/jobs">Inloop console</a>
        <nav aria-label="Console">
          <ul>
            ${PAGES.map(
              ([id, label]) =>
                html`<li><a href="#/${id}" aria-current=${id === page ? 'page' : 'false'}>${label}</a></li>`,
            )}
          </ul>
        </nav>
        <button class="quiet" @click=${() => this.#signOut()}>Sign out</button>
      </header>
      <main>${this.#page(page, arg)}</main>`;
  }

  #page(page: string, arg: string) {
    switch (page) {
      case 'jobs':
        return arg ? html`<ic-job .jobId=${arg}></ic-job>` : html`<ic-jobs></ic-jobs>`;
      case 'types':
        return html`<ic-types .selected=${arg}></ic-types>`;
      case 'budget':
        return html`<ic-budget></ic-budget>`;
      case 'topics':
        return html`<ic-topics></ic-topics>`;
      case 'nodes':
        return html`<ic-nodes></ic-nodes>`;
      default:
        return html`<h1 tabindex="-1">Not found</h1>`;
    }
  }
}
customElements.define('inloop-console', InloopConsole);
