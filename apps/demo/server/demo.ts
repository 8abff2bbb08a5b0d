import { randomBytes, scrypt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { conversationTopic } from '@inloop/protocol';
import type { InloopNode } from '@inloop/server';
import { bindCover, pageSvg, renderPage } from './illustrate.js';
import { outline, writePage, type StoryRequest } from './story.js';

/**
 * The demo's one group chat, with the bot in it. A visitor is added on arrival and removed once
 * gone from the lobby's presence for `lobbyAwayMs`, so receipts count the people taking part:
 * "read" means read by everyone here, not by everyone who ever passed by.
 */
export const LOBBY = 'lobby';
export const BOT = 'eliza';

/**
 * How long a visitor may be away from the lobby (no page of it open) before it stops being a
 * member: short, so that ticks reach "read" among the people here within seconds of them reading
 * (a message sent just after someone left waits on them for at most this long), and longer than
 * a 5 s network cut or a reload with its reconnect, so neither costs anyone the membership. A
 * visitor who comes back later is added again by the session endpoint: the chat page asks it again
 * by itself when the lobby refuses it (`not_member` on the reconnect), no reload needed.
 * Env `DEMO_LOBBY_AWAY_MS`. @default 10_000
 */
export const DEMO_LOBBY_AWAY_MS = 10_000;
function lobbyAwayMs(): number {
  const ms = Number(process.env.DEMO_LOBBY_AWAY_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : DEMO_LOBBY_AWAY_MS;
}

/**
 * Remove lobby members who have been away (absent from its presence) for `awayMs`: away since
 * the later of when they joined, when they left the presence (the node's last-seen record) and
 * when a sweep last saw them. A visitor who comes back is added again by the session endpoint.
 */
function pruneLobby(node: InloopNode, awayMs: number): () => void {
  const topic = conversationTopic(LOBBY);
  const seenAt = new Map<string, number>();
  let running = false;
  const sweep = async () => {
    const state = await node.conversations.state(LOBBY);
    if (!state) return;
    const here = new Set(node.presence.state(topic).members.map((m) => m.id));
    const left = new Map((await node.presence.lastSeen(topic, 1000)).map((s) => [s.id, s.lastSeen]));
    const now = Date.now();
    for (const m of state.members) {
      if (m.member === BOT) continue;
      if (here.has(m.member)) {
        seenAt.set(m.member, now);
        continue;
      }
      const since = Math.max(m.joinedAt, left.get(m.member) ?? 0, seenAt.get(m.member) ?? 0);
      if (now - since < awayMs) continue;
      seenAt.delete(m.member);
      // Gone already (another sweep, or it was removed by hand): nothing to do.
      await node.conversations.removeMember(LOBBY, m.member).catch(() => {});
    }
  };
  const timer = setInterval(
    () => {
      if (running) return;
      running = true;
      void sweep()
        .catch((err: unknown) => node.app.log.warn({ err }, 'lobby sweep failed'))
        .finally(() => (running = false));
    },
    Math.min(10_000, Math.max(250, awayMs / 4)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/** Finished illustrations, kept in memory (the newest few hundred). */
class ImageStore {
  readonly #images = new Map<string, Buffer>();
  constructor(private readonly max = 400) {}
  put(image: Buffer): string {
    const key = randomBytes(9).toString('base64url');
    this.#images.set(key, image);
    if (this.#images.size > this.max) this.#images.delete(this.#images.keys().next().value!);
    return `/demo/images/${key}.webp`;
  }
  get(key: string): Buffer | undefined {
    return this.#images.get(key);
  }
}

function storyRequest(input: unknown): StoryRequest {
  const i = (input ?? {}) as Record<string, unknown>;
  const text = (v: unknown, fallback: string, max: number) =>
    typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : fallback;
  const pages = Number.isInteger(i.pages) ? Math.min(16, Math.max(2, i.pages as number)) : 16;
  return {
    hero: text(i.hero, 'Pip', 40),
    animal: text(i.animal, 'fox', 20),
    plot: text(i.plot, 'an adventure', 200),
    pages,
  };
}

/**
 * The story's text stream: `story` for the first attempt, `story-2` for a retry (a stream belongs
 * to the job, so a retry that wrote into the first attempt's stream would tell the book twice).
 */
export const storyStreamName = (attempt: number): string => (attempt > 1 ? `story-${attempt}` : 'story');

/** Write `text` into `stream` word by word while `drawing` runs; what is left once it is done goes at once. */
async function writeAlong(
  stream: { append(text: string): Promise<unknown> },
  text: string,
  drawing: Promise<unknown>,
  signal: AbortSignal,
): Promise<void> {
  let drawn = false;
  void drawing.then(
    () => (drawn = true),
    () => (drawn = true),
  );
  const words = text.match(/\s*\S+/g) ?? [];
  for (let i = 0; i < words.length && !signal.aborted; i++) {
    // Appends are ordered and coalesced by the node; a refusal (the stream was stopped) also
    // aborts `signal`, which ends the loop.
    stream.append(drawn ? words.slice(i).join('') : words[i]!).catch(() => {});
    if (drawn) break;
    await delay(70, undefined, { signal }).catch(() => {});
  }
}

/**
 * What `work` gives, or null as soon as `signal` aborts (a stop): the handler returns at once
 * rather than waiting for a drawing nobody will see, which finishes unobserved.
 */
function unlessStopped<T>(work: Promise<T>, signal: AbortSignal): Promise<T | null> {
  work.catch(() => {});
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const stop = () => resolve(null);
    signal.addEventListener('abort', stop, { once: true });
    work
      .then(resolve, reject)
      .finally(() => signal.removeEventListener('abort', stop))
      .catch(() => {});
  });
}

const scryptAsync = (password: Buffer, salt: Buffer) =>
  new Promise<Buffer>((resolve, reject) =>
    scrypt(password, salt, 64, { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );

/**
 * Everything the demo adds to a node: its pages, a session endpoint that mints visitor tokens,
 * the story book and opaque-work job types, and the lobby conversation.
 */
export async function setupDemo(node: InloopNode): Promise<void> {
  const images = new ImageStore();
  const web = fileURLToPath(new URL('../web', import.meta.url));
  if (existsSync(web)) await node.app.register(fastifyStatic, { root: web, prefix: '/', index: 'index.html' });

  node.app.get<{ Params: { key: string } }>('/demo/images/:key.webp', async (request, reply) => {
    const image = images.get(request.params.key);
    if (!image) return reply.code(404).send();
    return reply.type('image/webp').header('cache-control', 'public, max-age=86400, immutable').send(image);
  });

  // A visitor picks a name and gets a token for the demo's topics, conversations and job types.
  // The page sends back the subject it was given before under the same name (a reload, another
  // page, a token refresh), so it stays the same member. A real app would do all this in its own
  // backend, after its own login: here a visitor can claim any subject of its name's form.
  node.app.post<{ Body: { name?: unknown; chat?: unknown; subject?: unknown } }>('/demo/session', async (request) => {
    const raw = typeof request.body?.name === 'string' ? request.body.name.trim().slice(0, 24) : '';
    const name = raw || 'Guest';
    const slug =
      name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'guest';
    const claimed = request.body?.subject;
    const subject =
      typeof claimed === 'string' && claimed.startsWith(`${slug}-`) && /^[a-z0-9-]+-[0-9a-f]{6}$/.test(claimed)
        ? claimed
        : `${slug}-${randomBytes(3).toString('hex')}`;
    if (request.body?.chat === true) await node.conversations.addMember(LOBBY, subject);
    const { token, expiresAt } = await node.mintToken(
      subject,
      [
        { ops: ['subscribe', 'publish', 'presence', 'history'], topics: ['demo:*', 'conv:*'] },
        { ops: ['job:create'], topics: ['story.book', 'opaque.derive'] },
      ],
      3600,
    );
    return { token, expiresAt, subject, name };
  });

  node.jobs.handle(
    'story.book',
    async (job, ctx) => {
      const request = storyRequest(job.input);
      await ctx.stage('Planning the story');
      const plan = outline(request);
      await ctx.message(`Planning “${plan.title}”`);
      await ctx.stage('Writing and drawing');
      // Measured from the first page on: time-based progress would run the bar up on the learned
      // guess while page 1 is drawn, then drop it to one page's worth when the first count came
      // (a tester on a slow machine saw 89 % fall to 10 %).
      await ctx.progress(0);
      const prints: Buffer[] = [];
      const pages: { number: number; text: string; image: string }[] = [];
      // The words of each page stream in while its picture is drawn (pages apart by a blank line).
      const story = ctx.stream(storyStreamName(job.attempt));
      for (let n = 1; n <= request.pages; n++) {
        if (ctx.signal.aborted) return null;
        const page = writePage(request, plan, n);
        await ctx.message(`Drawing page ${n} of ${request.pages}`);
        const drawing = renderPage(pageSvg(page.scene, plan.animal, n * 7919 + job.attempt));
        await writeAlong(story, n === 1 ? page.text : `\n\n${page.text}`, drawing, ctx.signal);
        const drawn = await unlessStopped(drawing, ctx.signal);
        if (!drawn || ctx.signal.aborted) return null;
        const { print, web: preview } = drawn;
        prints.push(print);
        const entry = { number: n, text: page.text, image: images.put(preview) };
        pages.push(entry);
        await ctx.partial(entry);
        await ctx.progress(n / request.pages);
      }
      await ctx.stage('Binding the book');
      await ctx.message('Binding the book');
      const bound = await unlessStopped(bindCover(prints), ctx.signal);
      if (!bound) return null;
      const cover = images.put(bound);
      return { title: plan.title, hero: request.hero, cover, pages };
    },
    {
      concurrency: 2,
      expectedMs: 40_000,
      stages: [
        { name: 'Planning the story', weight: 1 },
        { name: 'Writing and drawing', weight: 16 },
        { name: 'Binding the book', weight: 2 },
      ],
    },
  );

  // Opaque work: a memory-hard key derivation. It has no way to say how far along it is, so the
  // page shows time-based progress from the learned ETA (and "taking longer than usual").
  node.jobs.handle(
    'opaque.derive',
    async (job, ctx) => {
      const input = (job.input ?? {}) as { rounds?: unknown; passphrase?: unknown };
      const rounds = Number.isInteger(input.rounds) ? Math.min(200, Math.max(1, input.rounds as number)) : 24;
      let key: Buffer = Buffer.from(typeof input.passphrase === 'string' ? input.passphrase : 'correct horse');
      const salt = randomBytes(16);
      for (let i = 0; i < rounds; i++) {
        if (ctx.signal.aborted) return null;
        key = await scryptAsync(key, salt);
      }
      return { rounds, derivedKey: key.toString('hex'), memoryMiB: 128 };
    },
    { concurrency: 1, expectedMs: 15_000 },
  );

  if (!(await node.conversations.state(LOBBY))) {
    await node.conversations.create({ id: LOBBY, title: 'The lobby', members: [BOT] });
  }
  const stopPruning = pruneLobby(node, lobbyAwayMs());
  node.app.addHook('onClose', async () => stopPruning());
}
