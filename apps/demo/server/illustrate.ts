import sharp from 'sharp';
import type { Scene } from './story.js';

/** A positive number from the environment, else the default. */
function fromEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

/**
 * Print size of a page illustration: A5 landscape at about 250 dpi, times `DEMO_PRINT_SCALE`
 * (default 1; the browser tests use 0.25, so a page is drawn in a blink on a busy machine).
 */
const PRINT_SCALE = Math.min(1, fromEnv('DEMO_PRINT_SCALE', 1));
export const PRINT_WIDTH = Math.round(2048 * PRINT_SCALE);
export const PRINT_HEIGHT = Math.round(1448 * PRINT_SCALE);
/**
 * The least time drawing a page takes, ms (`DEMO_PAGE_MS`, default 0: as long as the drawing
 * takes). The browser tests set it so a book takes a known few seconds whatever the machine's load.
 */
const PAGE_MS = fromEnv('DEMO_PAGE_MS', 0);

const SKIES: Record<Scene['time'], [string, string]> = {
  day: ['#8ec5ff', '#fff3d6'],
  sunset: ['#ff922b', '#ffe3e3'],
  night: ['#1c2a4a', '#4c6ef5'],
};
const GROUND: Record<Scene['place'], string> = {
  forest: '#40c057',
  sea: '#1c7ed6',
  mountains: '#868e96',
  sky: '#d0ebff',
  village: '#94d82d',
  cave: '#5c3d2e',
};
/** Eyes of a face in the 100x100 box: two pupils with a glint. */
const eyes = (y = 45, dx = 14, r = 5) =>
  `<circle cx="${50 - dx}" cy="${y}" r="${r}" fill="#212529"/><circle cx="${50 + dx}" cy="${y}" r="${r}" fill="#212529"/>` +
  `<circle cx="${50 - dx + 1.5}" cy="${y - 1.5}" r="${r / 3}" fill="#fff"/><circle cx="${50 + dx + 1.5}" cy="${y - 1.5}" r="${r / 3}" fill="#fff"/>`;

/**
 * Each animal a child can pick, drawn as the waiting game draws it (packages/elements/src/animals.ts):
 * its face in a 100x100 box, the colours of its body and belly, and what else makes it itself. An
 * owl gets eye discs, a beak, wings and claws; a rabbit its long ears; a frog its eyes on top.
 */
const ANIMALS: Record<string, { face: string; fur: string; belly: string; extra?: string }> = {
  fox: {
    fur: '#f76707',
    belly: '#fff4e6',
    face: `<path d="M18 18 L38 38 L62 38 L82 18 L78 55 L50 85 L22 55Z" fill="#f76707"/>
      <path d="M24 52 L50 85 L38 58Z M76 52 L50 85 L62 58Z" fill="#fff"/><path d="M22 22 L34 36 L24 40Z M78 22 L66 36 L76 40Z" fill="#5c2b0a"/>
      ${eyes(50, 13, 4)}<circle cx="50" cy="80" r="4" fill="#212529"/>`,
    extra:
      '<path d="M30 50 Q86 40 78 -4 Q66 30 28 34Z" fill="#f76707"/><path d="M78 -4 Q74 8 66 12 Q80 10 78 -4Z" fill="#fff"/>',
  },
  owl: {
    fur: '#8d5a3b',
    belly: '#e9c9a0',
    face: `<path d="M20 20 L35 32 L65 32 L80 20 L82 70 Q50 98 18 70Z" fill="#8d5a3b"/>
      <circle cx="36" cy="48" r="14" fill="#fff3bf"/><circle cx="64" cy="48" r="14" fill="#fff3bf"/>${eyes(48, 14, 7)}
      <path d="M45 60 L55 60 L50 72Z" fill="#f59f00"/>`,
    extra:
      '<path d="M-36 4 Q-64 40 -34 70 Q-26 34 -36 4Z M36 4 Q64 40 34 70 Q26 34 36 4Z" fill="#6b4226"/>' +
      '<path d="M-14 78 l-6 8 M-10 78 v9 M14 78 l6 8 M10 78 v9" stroke="#f59f00" stroke-width="3"/>',
  },
  rabbit: {
    fur: '#dee2e6',
    belly: '#fff',
    face: `<ellipse cx="36" cy="10" rx="8" ry="24" fill="#dee2e6"/><ellipse cx="64" cy="10" rx="8" ry="24" fill="#dee2e6"/>
      <ellipse cx="36" cy="10" rx="4" ry="18" fill="#ffc9c9"/><ellipse cx="64" cy="10" rx="4" ry="18" fill="#ffc9c9"/>
      <circle cx="50" cy="56" r="30" fill="#dee2e6"/>${eyes(50, 11, 4)}<path d="M46 61 L54 61 L50 66Z" fill="#f06595"/>
      <path d="M50 66 v5 M50 71 q-5 4 -9 0 M50 71 q5 4 9 0" stroke="#495057" stroke-width="1.5" fill="none"/>`,
    extra: '<circle cx="40" cy="62" r="11" fill="#fff"/>',
  },
  cat: {
    fur: '#adb5bd',
    belly: '#f1f3f5',
    face: `<path d="M16 14 L40 32 L60 32 L84 14 L84 60 Q50 94 16 60Z" fill="#adb5bd"/><path d="M22 22 L34 32 L24 38Z M78 22 L66 32 L76 38Z" fill="#ffc9c9"/>
      <ellipse cx="36" cy="50" rx="5" ry="7" fill="#94d82d"/><ellipse cx="64" cy="50" rx="5" ry="7" fill="#94d82d"/><rect x="35" y="45" width="2" height="10" fill="#212529"/><rect x="63" y="45" width="2" height="10" fill="#212529"/>
      <path d="M46 62 L54 62 L50 67Z" fill="#f06595"/><path d="M20 62 L40 66 M20 70 L40 68 M80 62 L60 66 M80 70 L60 68" stroke="#495057" stroke-width="1.5"/>`,
    extra: '<path d="M34 56 Q80 50 70 6" stroke="#adb5bd" stroke-width="9" fill="none" stroke-linecap="round"/>',
  },
  bear: {
    fur: '#8d5a3b',
    belly: '#d9a679',
    face: `<circle cx="24" cy="26" r="13" fill="#8d5a3b"/><circle cx="76" cy="26" r="13" fill="#8d5a3b"/><circle cx="24" cy="26" r="6" fill="#d9a679"/><circle cx="76" cy="26" r="6" fill="#d9a679"/>
      <circle cx="50" cy="56" r="36" fill="#8d5a3b"/>${eyes(48, 14, 4)}<ellipse cx="50" cy="68" rx="14" ry="11" fill="#d9a679"/><ellipse cx="50" cy="63" rx="6" ry="4" fill="#212529"/>`,
  },
  mouse: {
    fur: '#ced4da',
    belly: '#f8f9fa',
    face: `<circle cx="22" cy="30" r="18" fill="#ced4da"/><circle cx="78" cy="30" r="18" fill="#ced4da"/><circle cx="22" cy="30" r="10" fill="#ffc9c9"/><circle cx="78" cy="30" r="10" fill="#ffc9c9"/>
      <ellipse cx="50" cy="60" rx="30" ry="28" fill="#ced4da"/>${eyes(54, 11, 4)}<circle cx="50" cy="70" r="4" fill="#f06595"/>`,
    extra: '<path d="M34 66 Q90 66 80 24" stroke="#f06595" stroke-width="3" fill="none"/>',
  },
  frog: {
    fur: '#51cf66',
    belly: '#d3f9d8',
    face: `<circle cx="30" cy="30" r="15" fill="#51cf66"/><circle cx="70" cy="30" r="15" fill="#51cf66"/>
      <ellipse cx="50" cy="60" rx="40" ry="30" fill="#51cf66"/>${eyes(29, 20, 7)}
      <path d="M28 66 Q50 82 72 66" stroke="#2b8a3e" stroke-width="4" fill="none"/><circle cx="25" cy="62" r="5" fill="#ff8787" opacity="0.6"/><circle cx="75" cy="62" r="5" fill="#ff8787" opacity="0.6"/>`,
    extra:
      '<ellipse cx="-30" cy="76" rx="20" ry="8" fill="#40c057"/><ellipse cx="30" cy="76" rx="20" ry="8" fill="#40c057"/>',
  },
  dragon: {
    fur: '#37b24d',
    belly: '#ffe066',
    face: `<path d="M28 30 L20 4 L40 26Z M72 30 L80 4 L60 26Z" fill="#f8f9fa"/>
      <ellipse cx="50" cy="52" rx="32" ry="30" fill="#37b24d"/><ellipse cx="50" cy="70" rx="20" ry="13" fill="#69db7c"/>
      ${eyes(44, 14, 5)}<circle cx="44" cy="68" r="2.5" fill="#1b5e20"/><circle cx="56" cy="68" r="2.5" fill="#1b5e20"/>`,
    extra:
      '<path d="M-30 10 L-84 -30 L-70 10 L-90 18 L-36 36Z M30 10 L84 -30 L70 10 L90 18 L36 36Z" fill="#2f9e44"/>' +
      '<path d="M34 60 Q84 68 86 24 L94 32 L86 14 L78 26Z" fill="#37b24d"/>',
  },
};

function rnd(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 4294967296;
    return seed / 4294967296;
  };
}

/**
 * The hero: the animal that was asked for, with its own details behind it (an owl's wings and
 * claws, a fox's tail, a dragon's wings), a body with a belly, a scarf in the mood's colour, and
 * the game's drawing of its face on top. An animal the demo does not know is drawn as a fox.
 */
function hero(animal: string, mood: Scene['mood'], x: number, y: number): string {
  const a = ANIMALS[animal.toLowerCase()] ?? ANIMALS.fox!;
  const scarf = mood === 'tense' ? '#c92a2a' : mood === 'joyful' ? '#fcc419' : '#4263eb';
  return `<g transform="translate(${x} ${y})">
    ${a.extra ?? ''}
    <ellipse cx="0" cy="40" rx="38" ry="44" fill="${a.fur}"/>
    <ellipse cx="0" cy="48" rx="22" ry="30" fill="${a.belly}"/>
    <path d="M-30 4 Q0 18 30 4 L27 14 Q0 28 -27 14Z" fill="${scarf}"/>
    <g transform="translate(-46 -82) scale(0.92)">${a.face}</g>
  </g>`;
}

function scenery(scene: Scene, r: () => number): string {
  const parts: string[] = [];
  if (scene.time === 'night') {
    for (let i = 0; i < 60; i++)
      parts.push(`<circle cx="${r() * 800}" cy="${r() * 260}" r="${0.6 + r() * 1.6}" fill="#fff"/>`);
    parts.push('<circle cx="640" cy="90" r="42" fill="#f1f3f5"/><circle cx="658" cy="80" r="40" fill="#1c2a4a"/>');
  } else
    parts.push(
      `<circle cx="${560 + r() * 160}" cy="${70 + r() * 60}" r="50" fill="${scene.time === 'sunset' ? '#ff6b6b' : '#ffd43b'}"/>`,
    );
  if (scene.place === 'mountains' || scene.place === 'cave') {
    for (let i = 0; i < 4; i++) {
      const x = i * 220 - 40 + r() * 60;
      parts.push(`<path d="M${x} 420 L${x + 140} ${170 + r() * 80} L${x + 300} 420Z" fill="#495057" opacity="0.85"/>`);
      parts.push(`<path d="M${x + 110} 230 L${x + 140} ${190} L${x + 170} 230Z" fill="#f8f9fa"/>`);
    }
  }
  const ground = GROUND[scene.place];
  if (scene.place === 'sea') {
    parts.push(`<rect y="360" width="800" height="205" fill="${ground}"/>`);
    for (let i = 0; i < 14; i++)
      parts.push(
        `<path d="M${i * 60} ${390 + (i % 3) * 40} q15 -12 30 0 t30 0" stroke="#a5d8ff" stroke-width="4" fill="none"/>`,
      );
    parts.push('<path d="M80 350 h150 l-25 40 h-100z" fill="#8d5a3b"/><path d="M150 350 v-120 l70 100z" fill="#fff"/>');
  } else {
    parts.push(
      `<path d="M0 ${380 + r() * 40} Q200 ${300 + r() * 60} 400 ${380 + r() * 30} T800 ${360 + r() * 40} V565 H0Z" fill="${ground}"/>`,
    );
  }
  if (scene.place === 'forest' || scene.place === 'village') {
    for (let i = 0; i < 7; i++) {
      const x = 40 + i * 115 + r() * 30;
      const y = 380 + r() * 40;
      parts.push(`<rect x="${x - 6}" y="${y - 10}" width="12" height="50" fill="#8d5a3b"/>`);
      parts.push(`<circle cx="${x}" cy="${y - 30}" r="${28 + r() * 14}" fill="#2f9e44"/>`);
    }
  }
  if (scene.place === 'village') {
    for (let i = 0; i < 3; i++) {
      const x = 480 + i * 100;
      parts.push(
        `<rect x="${x}" y="330" width="70" height="60" fill="#ffe8cc"/><path d="M${x - 8} 332 L${x + 35} 292 L${x + 78} 332Z" fill="#e03131"/>`,
      );
    }
  }
  if (scene.place === 'sky')
    for (let i = 0; i < 5; i++)
      parts.push(
        `<ellipse cx="${r() * 800}" cy="${120 + r() * 200}" rx="${50 + r() * 40}" ry="${18 + r() * 10}" fill="#fff" opacity="0.9"/>`,
      );
  if (scene.weather === 'rain')
    for (let i = 0; i < 120; i++) {
      const x = r() * 800;
      const y = r() * 565;
      parts.push(`<line x1="${x}" y1="${y}" x2="${x - 6}" y2="${y + 16}" stroke="#a5d8ff" stroke-width="2"/>`);
    }
  if (scene.weather === 'snow')
    for (let i = 0; i < 140; i++)
      parts.push(`<circle cx="${r() * 800}" cy="${r() * 565}" r="${1 + r() * 2.5}" fill="#fff"/>`);
  return parts.join('');
}

/** The page as SVG: sky, scenery from the scene plan, the hero, and a paper texture over it all. */
export function pageSvg(scene: Scene, animal: string, seed: number): string {
  const r = rnd(seed);
  const [top, bottom] = SKIES[scene.time];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${PRINT_WIDTH}" height="${PRINT_HEIGHT}" viewBox="0 0 800 565">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${top}"/><stop offset="1" stop-color="${bottom}"/></linearGradient>
    <filter id="paper"><feTurbulence type="fractalNoise" baseFrequency="0.85" numOctaves="3" seed="${seed % 1000}"/>
      <feColorMatrix values="0 0 0 0 0.92  0 0 0 0 0.86  0 0 0 0 0.72  0 0 0 0.22 0"/></filter>
  </defs>
  <rect width="800" height="565" fill="url(#sky)"/>
  ${scenery(scene, r)}
  ${hero(animal, scene.mood, 180 + r() * 420, 430)}
  <rect width="800" height="565" filter="url(#paper)"/>
</svg>`;
}

/** Render a page: the print PNG (the slow, real part) and a web preview made from it. */
export async function renderPage(svg: string): Promise<{ print: Buffer; web: Buffer }> {
  const floor = new Promise((r) => setTimeout(r, PAGE_MS));
  const print = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
  const web = await sharp(print).resize(Math.min(800, PRINT_WIDTH)).webp({ quality: 82 }).toBuffer();
  await floor;
  return { print, web };
}

/** Bind the book: a cover made of every page, laid out as a contact sheet at print size. */
export async function bindCover(pages: readonly Buffer[]): Promise<Buffer> {
  const cols = Math.ceil(Math.sqrt(pages.length));
  const rows = Math.ceil(pages.length / cols);
  const w = Math.floor(PRINT_WIDTH / cols);
  const h = Math.floor(PRINT_HEIGHT / rows);
  const tiles = await Promise.all(
    pages.map(async (p, i) => ({
      input: await sharp(p)
        .resize(w - 16, h - 16)
        .png()
        .toBuffer(),
      left: (i % cols) * w + 8,
      top: Math.floor(i / cols) * h + 8,
    })),
  );
  const cover = await sharp({
    create: { width: PRINT_WIDTH, height: PRINT_HEIGHT, channels: 3, background: '#fff9db' },
  })
    .composite(tiles)
    .png()
    .toBuffer();
  return sharp(cover).resize(Math.min(800, PRINT_WIDTH)).webp({ quality: 82 }).toBuffer();
}
