import { randomBytes, scrypt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { InloopNode } from '@inloop/server';
import { bindCover, pageSvg, renderPage } from './illustrate.js';
import { outline, writePage, type StoryRequest } from './story.js';

/** The demo's one group chat, with the bot in it; every visitor is added on arrival. */
export const LOBBY = 'lobby';
export const BOT = 'eliza';

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
    await new Promise((r) => setTimeout(r, 70));
  }
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
  // A real app would do this in its own backend, after its own login.
  node.app.post<{ Body: { name?: unknown; chat?: unknown } }>('/demo/session', async (request) => {
    const raw = typeof request.body?.name === 'string' ? request.body.name.trim().slice(0, 24) : '';
    const name = raw || 'Guest';
    const subject = `${
      name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '') || 'guest'
    }-${randomBytes(3).toString('hex')}`;
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
        const { print, web: preview } = await drawing;
        if (ctx.signal.aborted) return null;
        prints.push(print);
        const entry = { number: n, text: page.text, image: images.put(preview) };
        pages.push(entry);
        await ctx.partial(entry);
        await ctx.progress(n / request.pages);
      }
      await ctx.stage('Binding the book');
      await ctx.message('Binding the book');
      const cover = images.put(await bindCover(prints));
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
}
