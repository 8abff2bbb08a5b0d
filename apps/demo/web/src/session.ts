import { createClient, type InloopClient } from '@inloop/client';
import '@inloop/elements';
import type { InloopConnection, InloopSilenceMeter } from '@inloop/elements';
import './style.css';

export interface Session {
  client: InloopClient;
  name: string;
  subject: string;
  meter: InloopSilenceMeter;
  /**
   * Ask the session endpoint again (under the same member id): on the chat page this makes the
   * visitor a lobby member again after the lobby dropped it for being away (see chat.tsx).
   */
  rejoin: () => Promise<void>;
}

/** The demo's pages: file, link text, and the shorter text a phone shows (a part of the first). */
const PAGES = [
  ['story.html', 'Story book', 'Story'],
  ['opaque.html', 'Opaque work', 'Opaque'],
  ['chat.html', 'Chat', 'Chat'],
  ['reactions.html', 'Live reactions', 'Reactions'],
] as const;

/**
 * The page header: navigation, the connection's status (shown only while it is lost) and the
 * silence meter (the longest the user waited without news).
 */
export function header(): InloopSilenceMeter {
  const el = document.createElement('header');
  el.className = 'top';
  const here = location.pathname.split('/').pop() || 'index.html';
  // On a phone the links show their short words, so all four fit beside the meter (the long ones
  // scrolled out of view behind a fade); the link's name stays the long one.
  el.innerHTML = `<a class="brand" href="/">Inloop demo</a><nav aria-label="Demo pages">${PAGES.map(
    ([href, label, short]) =>
      `<a href="/${href}" aria-label="${label}"${href === here ? ' aria-current="page"' : ''}><span class="wide">${label}</span><span class="narrow" aria-hidden="true">${short}</span></a>`,
  ).join('')}</nav><inloop-connection class="top"></inloop-connection><inloop-silence-meter></inloop-silence-meter>`;
  document.body.prepend(el);
  showCurrentPage(el.querySelector('nav')!);
  return el.querySelector('inloop-silence-meter')!;
}

/**
 * On a narrow screen the links scroll sideways: scroll the row so the current page's link is in
 * full view, and fade an edge only while more links lie beyond it (`data-more` on the right,
 * `data-less` on the left).
 */
function showCurrentPage(nav: HTMLElement): void {
  const fade = () => {
    nav.toggleAttribute('data-more', nav.scrollLeft + nav.clientWidth < nav.scrollWidth - 1);
    nav.toggleAttribute('data-less', nav.scrollLeft > 1);
  };
  const place = () => {
    const current = nav.querySelector<HTMLElement>('[aria-current="page"]');
    if (current) {
      const offset = current.getBoundingClientRect().left - nav.getBoundingClientRect().left + nav.scrollLeft;
      // Centred in the row, clear of the faded edges.
      nav.scrollLeft = Math.max(0, offset + current.offsetWidth / 2 - nav.clientWidth / 2);
    }
    fade();
  };
  nav.addEventListener('scroll', fade, { passive: true });
  addEventListener('resize', place);
  place();
  // The web font or the header's other parts may change the widths after the first layout.
  requestAnimationFrame(place);
}

const NAME_KEY = 'inloop-demo-name';
const SUBJECT_KEY = 'inloop-demo-subject';

/**
 * Ask for a name in the page: a labelled field above the page's content, prefilled with the last
 * name used. Resolves on submit; an empty name becomes "Guest NNN".
 */
function askName(): Promise<string> {
  const form = document.createElement('form');
  form.className = 'card name-picker';
  // The page's heading until the page itself is shown (its h1 comes with it).
  const title = document.title.split(' · ')[0] ?? 'Inloop demo';
  form.innerHTML = `<h1>${title.replace(/[<&]/g, '')}</h1><label for="visitor-name">Your name, as others will see it</label>
    <div class="row"><input id="visitor-name" name="name" autocomplete="nickname" maxlength="24" required />
    <button class="primary" type="submit">Join</button></div>`;
  const main = document.querySelector('main') ?? document.body;
  main.prepend(form);
  const input = form.querySelector('input')!;
  input.value = localStorage.getItem(NAME_KEY) ?? '';
  input.focus();
  return new Promise((resolve) =>
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const name = input.value.trim() || `Guest ${Math.floor(Math.random() * 900 + 100)}`;
      form.remove();
      resolve(name);
    }),
  );
}

/** Forget the name (and the member it signed in as) and ask again: another name is another member. */
export function forgetName(): void {
  localStorage.removeItem(NAME_KEY);
  localStorage.removeItem(SUBJECT_KEY);
  const url = new URL(location.href);
  url.searchParams.delete('name');
  location.assign(url);
}

/**
 * The visitor's name: from `?name=`, then the last one used on this browser (localStorage), else
 * asked for in the page when `ask` (the pages where others see it), else "Guest".
 */
export async function visitorName(ask: boolean): Promise<string> {
  const fromUrl = new URLSearchParams(location.search).get('name');
  const name = fromUrl || localStorage.getItem(NAME_KEY) || (ask ? await askName() : 'Guest');
  if (fromUrl || ask) localStorage.setItem(NAME_KEY, name);
  return name;
}

/**
 * Sign in to the demo: the demo server mints a token for the name (a real app's backend would do
 * this after its own login), and the client fetches a fresh one whenever it needs to.
 */
export async function session(options: { chat?: boolean; askName?: boolean } = {}): Promise<Session> {
  const meter = header();
  const name = await visitorName(options.askName ?? options.chat === true);
  // The same browser under the same name is the same member on every page and after a reload
  // (its receipts and presence carry over); a new name is a new member.
  const saved = JSON.parse(localStorage.getItem(SUBJECT_KEY) ?? 'null') as { name: string; subject: string } | null;
  let subject = saved?.name === name ? saved.subject : undefined;
  const fetchSession = async () => {
    const res = await fetch('/demo/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, chat: options.chat === true, ...(subject ? { subject } : {}) }),
    });
    if (!res.ok) throw new Error(`session: ${res.status}`);
    const body = (await res.json()) as { token: string; subject: string; name: string };
    subject = body.subject;
    localStorage.setItem(SUBJECT_KEY, JSON.stringify({ name, subject }));
    return body;
  };
  const first = await fetchSession();
  let next: string | undefined = first.token;
  const client = createClient({
    url: location.origin,
    token: async () => {
      const token = next ?? (await fetchSession()).token;
      next = undefined;
      return token;
    },
  });
  document.querySelector<InloopConnection>('inloop-connection')!.client = client;
  await client.connect();
  // The token it answers with is left unused: the connection's own still covers the lobby, which
  // lets in whoever is a member.
  const rejoin = async () => void (await fetchSession());
  return { client, name: first.name, subject: first.subject, meter, rejoin };
}

/** A member id's display name when no presence metadata says otherwise. */
export function fallbackName(subject: string): string {
  if (subject === 'eliza') return 'Eliza (bot)';
  const base = subject.replace(/-[0-9a-f]{6}$/, '');
  return base.charAt(0).toUpperCase() + base.slice(1);
}
