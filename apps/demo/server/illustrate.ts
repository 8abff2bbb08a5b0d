import sharp from 'sharp';
import type { Scene } from './story.js';

/** Print size of a page illustration (A5 landscape at about 250 dpi). */
export const PRINT_WIDTH = 2048;
export const PRINT_HEIGHT = 1448;

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
const BODY: Record<string, string> = {
  fox: '#f76707',
  bear: '#8d5a3b',
  rabbit: '#dee2e6',
  cat: '#fab005',
  owl: '#a9744f',
  mouse: '#adb5bd',
  frog: '#51cf66',
  dragon: '#37b24d',
};

function rnd(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 4294967296;
    return seed / 4294967296;
  };
}

/** The hero, drawn from shapes: body, head, ears by animal, eyes, a scarf in the mood's colour. */
function hero(animal: string, mood: Scene['mood'], x: number, y: number): string {
  const key = animal.toLowerCase();
  const fur = BODY[key] ?? '#e599f7';
  const scarf = mood === 'tense' ? '#c92a2a' : mood === 'joyful' ? '#fcc419' : '#4263eb';
  const ears =
    key === 'rabbit'
      ? `<ellipse cx="-14" cy="-62" rx="8" ry="26" fill="${fur}"/><ellipse cx="14" cy="-62" rx="8" ry="26" fill="${fur}"/>`
      : key === 'owl'
        ? `<path d="M-26 -46 L-18 -66 L-8 -48Z M26 -46 L18 -66 L8 -48Z" fill="${fur}"/>`
        : `<path d="M-28 -40 L-20 -66 L-6 -46Z M28 -40 L20 -66 L6 -46Z" fill="${fur}"/>`;
  return `<g transform="translate(${x} ${y})">
    <ellipse cx="0" cy="30" rx="42" ry="48" fill="${fur}"/>
    ${ears}
    <circle cx="0" cy="-26" r="34" fill="${fur}"/>
    <circle cx="-12" cy="-30" r="6" fill="#fff"/><circle cx="12" cy="-30" r="6" fill="#fff"/>
    <circle cx="-11" cy="-29" r="3" fill="#212529"/><circle cx="13" cy="-29" r="3" fill="#212529"/>
    <path d="M-8 -12 Q0 ${mood === 'tense' ? -16 : -4} 8 -12" stroke="#212529" stroke-width="3" fill="none"/>
    <path d="M-34 0 Q0 16 34 0 L30 12 Q0 26 -30 12Z" fill="${scarf}"/>
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
  const print = await sharp(Buffer.from(svg)).png({ compressionLevel: 9 }).toBuffer();
  const web = await sharp(print).resize(800).webp({ quality: 82 }).toBuffer();
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
  return sharp(cover).resize(800).webp({ quality: 82 }).toBuffer();
}
