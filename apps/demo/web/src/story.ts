import type { InloopJobWait, InloopStreamText } from '@inloop/elements';
import '@inloop/elements/stream-text';
import type { JobWatch, StreamWatch } from '@inloop/client';
import type { JobSnapshot } from '@inloop/protocol';
import { html, render } from 'lit';
import { session } from './session.js';

interface Page {
  number: number;
  text: string;
  image: string;
}
interface Book {
  title: string;
  hero: string;
  cover: string;
  pages: Page[];
}

const ANIMALS = ['fox', 'bear', 'rabbit', 'cat', 'owl', 'mouse', 'frog', 'dragon'];
const app = document.getElementById('app')!;
const { client, meter } = await session();

function form(): void {
  render(
    html`<section class="card">
      <h1>Story book</h1>
      <p class="muted">
        Describe a hero and a plot. A job writes the story, draws an illustration for every page at print size and binds
        the book, page by page. It takes about forty seconds, so there is a game to play meanwhile.
      </p>
      <form @submit=${start}>
        <label for="hero">Hero's name</label>
        <input id="hero" name="hero" required maxlength="40" value="Pip" />
        <label for="animal">The hero is a</label>
        <select id="animal" name="animal">
          ${ANIMALS.map((a) => html`<option value=${a}>${a}</option>`)}
        </select>
        <label for="plot">What happens?</label>
        <input id="plot" name="plot" maxlength="200" value="finds a treasure map on the beach" />
        <label for="pages">Pages</label>
        <select id="pages" name="pages">
          ${[3, 6, 9, 12, 16].map((n) => html`<option value=${n} ?selected=${n === 16}>${n}</option>`)}
        </select>
        <button class="primary" type="submit">Write my book</button>
      </form>
    </section>`,
    app,
  );
}

/** The running job's id rides in the URL (`?job=`) and its read token in session storage, so a reload resumes it. */
const JOB_PARAM = 'job';
const stored = (id: string) => `inloop-demo-job:${id}`;

function rememberJob(id: string, token: string, label: string): void {
  sessionStorage.setItem(stored(id), JSON.stringify({ token, label }));
  const url = new URL(location.href);
  url.searchParams.set(JOB_PARAM, id);
  history.replaceState(null, '', url);
}

function forgetJob(): void {
  const url = new URL(location.href);
  const id = url.searchParams.get(JOB_PARAM);
  if (id) sessionStorage.removeItem(stored(id));
  url.searchParams.delete(JOB_PARAM);
  history.replaceState(null, '', url);
}

async function start(e: SubmitEvent): Promise<void> {
  e.preventDefault();
  const data = new FormData(e.target as HTMLFormElement);
  const input = {
    hero: String(data.get('hero')),
    animal: String(data.get('animal')),
    plot: String(data.get('plot')),
    pages: Number(data.get('pages')),
  };
  meter.waiting();
  const job = await client.startJob('story.book', input, { size: { pages: input.pages } });
  const label = `Writing ${input.hero}'s book`;
  rememberJob(job.id, job.token, label);
  await follow(job.id, job.token, label, true);
}

/** Resume the job named in the URL, if this tab started it; false when there is none to resume. */
async function resume(): Promise<boolean> {
  const id = new URL(location.href).searchParams.get(JOB_PARAM);
  const saved = id ? sessionStorage.getItem(stored(id)) : null;
  if (!id || !saved) return false;
  const { token, label } = JSON.parse(saved) as { token: string; label: string };
  try {
    meter.waiting();
    // After a reload nothing on the page has focus: the keyboard goes to the game (or Continue)
    // as it did before, so number keys answer without a Tab first.
    await follow(id, token, label, true);
    return true;
  } catch {
    meter.idle();
    forgetJob();
    return false;
  }
}

/**
 * A page as it arrives: a thumbnail of fixed size, so the strip never reflows as images load.
 * Styled inline: it is drawn inside the progress element's shadow root, where page styles do not reach.
 */
const thumbnail = (p: Page) =>
  html`<figure style="margin:0;width:96px;font-size:0.75rem;text-align:center" class="thumb">
    <img
      src=${p.image}
      alt="Page ${p.number}"
      width="96"
      height="68"
      style="display:block;width:96px;height:68px;border-radius:0.3rem;background:#e6e8ee"
    />
    <figcaption>Page ${p.number}</figcaption>
  </figure>`;

async function follow(id: string, token: string, label: string, focus: boolean): Promise<void> {
  const watch = await client.watchJob(id, { token });
  render(
    html`<section class="card story-wait">
      <h1>Story book</h1>
      <inloop-job-wait
        .strategy=${watch.snapshot.strategy}
        .snapshot=${watch.snapshot}
        .label=${label}
        .renderPartial=${thumbnail}
        @continue=${() => openBook(watch.snapshot)}
      ></inloop-job-wait>
      <div class="story-text">
        <button class="secondary" type="button" data-stop>Stop writing</button>
        <div class="story-scroll" role="region" aria-label="The story so far" tabindex="0">
          <inloop-stream-text label="The story so far" reserve="4" data-stream="story"></inloop-stream-text>
        </div>
      </div>
    </section>`,
    app,
  );
  streamStory(watch);
  const wait = app.querySelector<InloopJobWait>('inloop-job-wait')!;
  // The form that had focus is gone (or the page was reloaded): the keyboard goes on to the game
  // (or Continue).
  if (focus) wait.focus({ preventScroll: true });
  watch.on('update', (s) => {
    wait.snapshot = s;
    meter.beat();
  });
  watch.on('done', () => meter.idle());
}

/**
 * The story's words as they are written, from the job's stream: after a reload the text so far
 * comes back in one piece and goes on. The server writes a retry into a stream of its own
 * (`story-2`: see `storyStreamName` in the demo server), so a new attempt starts a new text.
 */
function streamStory(watch: JobWatch): void {
  const text = app.querySelector<InloopStreamText>('inloop-stream-text[data-stream="story"]')!;
  const stop = app.querySelector<HTMLButtonElement>('button[data-stop]')!;
  let attempt = 0;
  let story: StreamWatch | undefined;
  const open = (n: number): void => {
    if (n === attempt) return;
    attempt = n;
    story?.close();
    text.text = '';
    text.status = 'streaming';
    story = watch.stream(n > 1 ? `story-${n}` : 'story');
    story.on('delta', (delta) => text.appendText(delta));
    story.on('reset', (all) => (text.text = all));
    story.on('end', (reason) => {
      text.status = reason;
      stop.hidden = true;
    });
  };
  // A queued job is at attempt 0 and writes its first attempt's stream: open that one, so Stop
  // (which goes through the stream) cancels a job still waiting in line.
  open(Math.max(1, watch.snapshot.attempt));
  watch.on('update', (s) => open(Math.max(1, s.attempt)));
  // The text grows inside a box of fixed height that is its scroll container, kept scrolled to
  // its newest words with scrollTop: the page around it (and Stop, above it) never moves, and
  // neither do the lines inside, since scrolling is not a layout shift (pushing the text up by
  // layout, with flex-end or column-reverse, would be one at every line). A reader who scrolled
  // up to read again stays there until they scroll back to the end.
  // (The text may grow between a scroll and its event, so "up" is measured from where it was put.)
  const box = text.parentElement!;
  let following = true;
  let pinnedAt = 0;
  box.addEventListener('scroll', () => {
    following = box.scrollTop >= pinnedAt - 2 || box.scrollTop + box.clientHeight >= box.scrollHeight - 2;
  });
  new ResizeObserver(() => {
    if (!following) return;
    box.scrollTop = box.scrollHeight;
    pinnedAt = box.scrollTop;
  }).observe(text);
  stop.addEventListener('click', () => {
    stop.disabled = true;
    void story?.stop().catch(() => (stop.disabled = false));
  });
}

/**
 * The finished book, a page at a time: the picture with its words beside it on a wide screen (under
 * it on a phone), so picture, words and the page buttons are in view together without scrolling.
 * Nothing the reader presses moves from page to page: the pictures hold their size before they load
 * (width and height given), and the words sit in a box as tall as the longest page's (every page's
 * words are laid in the same grid cell, the others hidden), so Back and Next stay put. The cover,
 * a contact sheet of every page, comes after the pages' buttons.
 */
function openBook(snapshot: JobSnapshot): void {
  if (snapshot.status !== 'succeeded') {
    forgetJob();
    form();
    return;
  }
  const book = snapshot.result as unknown as Book;
  let at = 0;
  const last = book.pages.length - 1;
  const turn = (to: number): void => {
    at = Math.min(last, Math.max(0, to));
    show();
    // The button pressed may be disabled now (the first or last page): the keyboard goes to the other.
    const nav = app.querySelector<HTMLElement>('.page-nav')!;
    if (!nav.contains(document.activeElement) || (document.activeElement as HTMLButtonElement).disabled) {
      nav.querySelector<HTMLButtonElement>('button:not([disabled])')?.focus();
    }
  };
  // The button is gone with the book: the keyboard goes on in the form, at its first field.
  const writeAnother = (): void => {
    forgetJob();
    form();
    app.querySelector<HTMLInputElement>('#hero')?.focus();
  };
  const show = (): void => {
    const page = book.pages[at]!;
    render(
      html`<section class="card book" aria-label="The book" data-book=${book.title}>
        <h1>${book.title}</h1>
        <div class="spread">
          <img
            class="page-picture"
            src=${page.image}
            alt="Illustration of page ${page.number}"
            width="800"
            height="565"
          />
          <div class="page-side">
            <article aria-live="polite" data-page=${page.number}>
              <div class="page-words">
                ${book.pages.map((p) => html`<p class="sizer" aria-hidden="true">${p.text}</p>`)}
                <p class="words">${page.text}</p>
              </div>
              <p class="muted">Page ${page.number} of ${book.pages.length}</p>
            </article>
            <div class="page-nav">
              <button class="secondary" ?disabled=${at === 0} @click=${() => turn(at - 1)}>← Back</button>
              <button class="primary" ?disabled=${at === last} @click=${() => turn(at + 1)}>Next page →</button>
            </div>
          </div>
        </div>
        <figure class="cover">
          <img src=${book.cover} alt="Cover: every page of the book" width="800" height="565" />
          <figcaption class="muted">The cover</figcaption>
        </figure>
        <button class="secondary" @click=${writeAnother}>Write another</button>
      </section>`,
      app,
    );
  };
  show();
  // Continue, which had the focus, is gone: the reader starts at the top, on Next page.
  scrollTo(0, 0);
  app.querySelector<HTMLButtonElement>('.page-nav button:not([disabled])')?.focus({ preventScroll: true });
}

if (!(await resume())) form();
