import { createClient, type InloopClient } from '@inloop/client';
import '@inloop/elements';
import type { InloopSilenceMeter } from '@inloop/elements';
import './style.css';

export interface Session {
  client: InloopClient;
  name: string;
  subject: string;
  meter: InloopSilenceMeter;
}

const PAGES = [
  ['story.html', 'Story book'],
  ['opaque.html', 'Opaque work'],
  ['chat.html', 'Chat'],
  ['reactions.html', 'Live reactions'],
] as const;

/** The page header: navigation and the silence meter (the longest the user waited without news). */
export function header(): InloopSilenceMeter {
  const el = document.createElement('header');
  el.className = 'top';
  const here = location.pathname.split('/').pop() || 'index.html';
  el.innerHTML = `<a class="brand" href="/">Inloop demo</a><nav aria-label="Demo pages">${PAGES.map(
    ([href, label]) => `<a href="/${href}"${href === here ? ' aria-current="page"' : ''}>${label}</a>`,
  ).join('')}</nav><inloop-silence-meter></inloop-silence-meter>`;
  document.body.prepend(el);
  return el.querySelector('inloop-silence-meter')!;
}

/** The visitor's name: from `?name=`, then the last one used, else asked for. */
export function visitorName(): string {
  const fromUrl = new URLSearchParams(location.search).get('name');
  if (fromUrl) return fromUrl;
  const saved = sessionStorage.getItem('inloop-demo-name');
  if (saved) return saved;
  const asked =
    (prompt('Your name, as others will see it:', '') ?? '').trim() || `Guest ${Math.floor(Math.random() * 900 + 100)}`;
  sessionStorage.setItem('inloop-demo-name', asked);
  return asked;
}

/**
 * Sign in to the demo: the demo server mints a token for the name (a real app's backend would do
 * this after its own login), and the client fetches a fresh one whenever it needs to.
 */
export async function session(options: { chat?: boolean } = {}): Promise<Session> {
  const meter = header();
  const name = visitorName();
  const fetchSession = async () => {
    const res = await fetch('/demo/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, chat: options.chat === true }),
    });
    if (!res.ok) throw new Error(`session: ${res.status}`);
    return (await res.json()) as { token: string; subject: string; name: string };
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
  await client.connect();
  return { client, name: first.name, subject: first.subject, meter };
}

/** A member id's display name when no presence metadata says otherwise. */
export function fallbackName(subject: string): string {
  if (subject === 'eliza') return 'Eliza (bot)';
  const base = subject.replace(/-[0-9a-f]{6}$/, '');
  return base.charAt(0).toUpperCase() + base.slice(1);
}
