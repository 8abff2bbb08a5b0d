import type { InloopJobWait } from '@inloop/elements';
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
  const watch = await client.watchJob(job.id, { token: job.token });
  render(
    html`<section class="card">
      <inloop-job-wait
        .strategy=${job.strategy}
        .snapshot=${watch.snapshot}
        .label=${`Writing ${input.hero}'s book`}
        .renderPartial=${(p: Page) =>
          html`<figure style="display:inline-block;width:7rem;margin:0.25rem">
            <img src=${p.image} alt="Page ${p.number}" style="width:100%;border-radius:0.3rem" />
            <figcaption>Page ${p.number}</figcaption>
          </figure>`}
        @continue=${() => openBook(watch.snapshot)}
      ></inloop-job-wait>
    </section>`,
    app,
  );
  const wait = app.querySelector<InloopJobWait>('inloop-job-wait')!;
  watch.on('update', (s) => {
    wait.snapshot = s;
    meter.beat();
  });
  watch.on('done', () => meter.idle());
}

function openBook(snapshot: JobSnapshot): void {
  if (snapshot.status !== 'succeeded') {
    form();
    return;
  }
  const book = snapshot.result as unknown as Book;
  let at = 0;
  const show = (): void => {
    const page = book.pages[at]!;
    render(
      html`<section class="card book" aria-label="The book" data-book=${book.title}>
        <h1>${book.title}</h1>
        <img
          src=${book.cover}
          alt="Cover: every page of the book"
          style="width:100%;max-width:24rem;border-radius:0.5rem"
        />
        <article aria-live="polite" data-page=${page.number}>
          <img src=${page.image} alt="Illustration of page ${page.number}" style="width:100%;border-radius:0.5rem" />
          <p style="font-size:1.25rem">${page.text}</p>
          <p class="muted">Page ${page.number} of ${book.pages.length}</p>
        </article>
        <button class="secondary" ?disabled=${at === 0} @click=${() => ((at = Math.max(0, at - 1)), show())}>
          ← Back
        </button>
        <button
          class="primary"
          ?disabled=${at === book.pages.length - 1}
          @click=${() => ((at = Math.min(book.pages.length - 1, at + 1)), show())}
        >
          Next page →
        </button>
        <button class="secondary" @click=${form}>Write another</button>
      </section>`,
      app,
    );
  };
  show();
}

form();
