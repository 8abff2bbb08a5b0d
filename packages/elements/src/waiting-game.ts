import { css, html, LitElement, type TemplateResult } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { ANIMALS } from './animals.js';

export { ANIMALS };

interface Round {
  answer: number;
  choices: number[];
  picked: number | null;
  endsAt: number;
}

/** How long the answer stays on screen before the next round. */
const REVEAL_MS = 1400;

/**
 * `<inloop-waiting-game>`: short rounds (about 10 s) while a long job runs. An animal drawn in SVG and four
 * names; pick with the mouse, a tap, or the keyboard (keys 1-4, or arrows and Enter). It keeps
 * score and goes on until the page removes it. Nothing moves under the player's hand: the
 * choices stay where they are between rounds, and with `prefers-reduced-motion` nothing animates.
 * The keyboard stays in the game: an answered round keeps focus on its buttons, the next round
 * puts it on its first answer, and the number keys work every round. `focus()` focuses the
 * first answer.
 *
 * ```html
 * <inloop-waiting-game round-ms="10000"></inloop-waiting-game>
 * <script>game.addEventListener('round', (e) => console.log(e.detail.correct, e.detail.score));</script>
 * ```
 */
export class InloopWaitingGame extends LitElement {
  static override properties = {
    roundMs: { type: Number, attribute: 'round-ms' },
    _round: { state: true },
    _score: { state: true },
    _played: { state: true },
    _now: { state: true },
  };

  /** Length of a round. @default 10000 */
  roundMs = 10_000;
  _round: Round | null = null;
  _score = 0;
  _played = 0;
  _now = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #next: ReturnType<typeof setTimeout> | undefined;
  #recent: number[] = [];

  static override styles = css`
    :host {
      display: block;
      text-align: center;
    }
    .picture {
      width: 7rem;
      height: 7rem;
      display: inline-block;
      animation: pop 0.35s ease-out;
    }
    @keyframes pop {
      from {
        transform: scale(0.6);
        opacity: 0.3;
      }
    }
    .choices {
      display: grid;
      grid-template-columns: repeat(2, minmax(8rem, 1fr));
      gap: 0.5rem;
      max-width: 24rem;
      margin: 0.75rem auto;
    }
    button {
      font: inherit;
      font-size: 1.1rem;
      padding: 0.7rem 0.5rem;
      border-radius: 0.6rem;
      border: 2px solid var(--inloop-track, #d0d4de);
      background: var(--inloop-surface, #fff);
      color: inherit;
      cursor: pointer;
      min-height: 3rem;
    }
    button[aria-disabled='true'] {
      cursor: default;
    }
    button:focus-visible {
      outline: 3px solid var(--inloop-accent, #3b5bdb);
      outline-offset: 2px;
    }
    button.right {
      border-color: var(--inloop-ok, #2b8a3e);
      background: #ebfbee;
    }
    button.wrong {
      border-color: var(--inloop-warn, #a61e4d);
      background: #fff0f6;
    }
    .key {
      color: var(--inloop-muted, #555);
      font-size: 0.8em;
      margin-right: 0.4em;
    }
    .timer {
      height: 0.3rem;
      background: var(--inloop-track, #e6e8ee);
      border-radius: 0.15rem;
      max-width: 24rem;
      margin: 0 auto;
      overflow: hidden;
    }
    .timer div {
      height: 100%;
      background: var(--inloop-accent-soft, #748ffc);
    }
    .score {
      font-variant-numeric: tabular-nums;
      color: var(--inloop-muted, #555);
    }
    .feedback {
      min-height: 1.5em;
      margin: 0.25rem 0;
    }
    @media (prefers-reduced-motion: reduce) {
      .picture {
        animation: none;
      }
    }
  `;

  constructor() {
    super();
    // Keys anywhere in the game: focus can sit on any of its buttons between rounds.
    this.addEventListener('keydown', (e) => this.#onKey(e));
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.#start();
    this.#timer = setInterval(() => this.#tick(), 250);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#timer);
    clearTimeout(this.#next);
  }

  /** Rounds answered correctly, and rounds played. */
  get score(): { correct: number; played: number } {
    return { correct: this._score, played: this._played };
  }

  /** Focus the first answer of the round on screen. */
  override focus(options?: FocusOptions): void {
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector<HTMLButtonElement>('button[data-choice]')?.focus(options),
    );
  }

  #start(): void {
    // Whoever was answering by keyboard goes on with the next round's first answer.
    const hadFocus = this.matches(':focus-within');
    const pick = (): number => {
      for (;;) {
        const i = Math.floor(Math.random() * ANIMALS.length);
        if (!this.#recent.includes(i)) return i;
      }
    };
    const answer = pick();
    this.#recent = [...this.#recent, answer].slice(-6);
    const choices = new Set<number>([answer]);
    while (choices.size < 4) choices.add(Math.floor(Math.random() * ANIMALS.length));
    this._round = {
      answer,
      choices: [...choices].sort(() => Math.random() - 0.5),
      picked: null,
      endsAt: Date.now() + this.roundMs,
    };
    if (hadFocus) this.focus({ preventScroll: true });
  }

  #tick(): void {
    this._now = Date.now();
    const r = this._round;
    if (r && r.picked === null && this._now >= r.endsAt) this.#choose(-1);
  }

  #choose(choice: number): void {
    const r = this._round;
    if (!r || r.picked !== null) return;
    const correct = choice === r.answer;
    this._round = { ...r, picked: choice };
    this._played++;
    if (correct) this._score++;
    this.dispatchEvent(
      new CustomEvent('round', {
        detail: { correct, score: this._score, played: this._played },
        bubbles: true,
        composed: true,
      }),
    );
    this.#next = setTimeout(() => this.#start(), REVEAL_MS);
  }

  #onKey(e: KeyboardEvent): void {
    const r = this._round;
    if (!r || e.altKey || e.ctrlKey || e.metaKey) return;
    const n = Number(e.key);
    if (n >= 1 && n <= 4) {
      e.preventDefault();
      this.#choose(r.choices[n - 1]!);
      return;
    }
    if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(e.key)) return;
    const buttons = [...this.renderRoot.querySelectorAll<HTMLButtonElement>('button[data-choice]')];
    const at = buttons.indexOf(this.renderRoot.querySelector<HTMLButtonElement>('button:focus') ?? buttons[0]!);
    const step = e.key === 'ArrowLeft' ? -1 : e.key === 'ArrowRight' ? 1 : e.key === 'ArrowUp' ? -2 : 2;
    buttons[(at + step + buttons.length) % buttons.length]?.focus();
    e.preventDefault();
  }

  protected override render(): TemplateResult {
    const r = this._round;
    if (!r) return html``;
    const animal = ANIMALS[r.answer]!;
    const left = Math.max(0, r.endsAt - this._now);
    const feedback =
      r.picked === null
        ? 'Who is this?'
        : r.picked === r.answer
          ? `Yes! It's the ${animal.name.toLowerCase()}.`
          : `That was the ${animal.name.toLowerCase()}.`;
    return html`
      <svg class="picture" viewBox="0 0 100 100" role="img" aria-label="A mystery animal" data-answer=${animal.name}>
        ${animal.draw()}
      </svg>
      <p class="feedback" aria-live="polite">${keyed(feedback, html`<span>${feedback}</span>`)}</p>
      <div class="choices" role="group" aria-label="Choose its name">
        ${r.choices.map(
          (c, i) =>
            html`<button
              data-choice=${ANIMALS[c]!.name}
              class=${r.picked === null ? '' : c === r.answer ? 'right' : c === r.picked ? 'wrong' : ''}
              aria-disabled=${r.picked !== null ? 'true' : 'false'}
              @click=${() => this.#choose(c)}
            >
              ${keyed(c, html`<span class="key" aria-hidden="true">${i + 1}</span>${ANIMALS[c]!.name}`)}
            </button>`,
        )}
      </div>
      ${
        r.picked === null
          ? html`<div class="timer" aria-hidden="true"><div style="width:${(left / this.roundMs) * 100}%"></div></div>`
          : html`<div class="timer" aria-hidden="true"></div>`
      }
      <p class="score" data-score=${this._score}>
        ${keyed(this._played, html`<span>Score ${this._score} of ${this._played}</span>`)}
      </p>
    `;
  }
}

if (!customElements.get('inloop-waiting-game')) customElements.define('inloop-waiting-game', InloopWaitingGame);

declare global {
  interface HTMLElementTagNameMap {
    'inloop-waiting-game': InloopWaitingGame;
  }
}
