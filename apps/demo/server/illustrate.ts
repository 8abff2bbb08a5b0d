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
  penguin: {
    fur: '#212529',
    belly: '#fff',
    face: `<ellipse cx="50" cy="54" rx="36" ry="40" fill="#212529"/><path d="M50 30 Q22 36 26 62 Q34 86 50 88 Q66 86 74 62 Q78 36 50 30Z" fill="#fff"/>
      ${eyes(48, 11, 4)}<path d="M43 56 L57 56 L50 66Z" fill="#f59f00"/>`,
    extra:
      '<path d="M-36 10 Q-56 40 -40 66 Q-30 40 -36 10Z M36 10 Q56 40 40 66 Q30 40 36 10Z" fill="#212529"/>' +
      '<ellipse cx="-16" cy="84" rx="12" ry="5" fill="#f59f00"/><ellipse cx="16" cy="84" rx="12" ry="5" fill="#f59f00"/>',
  },
  dog: {
    fur: '#c08a5b',
    belly: '#f3e1cf',
    face: `<ellipse cx="18" cy="46" rx="12" ry="26" fill="#7a4a2a"/><ellipse cx="82" cy="46" rx="12" ry="26" fill="#7a4a2a"/>
      <circle cx="50" cy="52" r="32" fill="#c08a5b"/>${eyes(46, 13, 4)}<ellipse cx="50" cy="66" rx="14" ry="10" fill="#f3e1cf"/>
      <ellipse cx="50" cy="61" rx="6" ry="4" fill="#212529"/><path d="M50 66 q-2 8 4 10" stroke="#e03131" stroke-width="3" fill="none"/>`,
    extra: '<path d="M30 50 Q70 40 62 8" stroke="#c08a5b" stroke-width="8" fill="none" stroke-linecap="round"/>',
  },
  lion: {
    fur: '#f0a830',
    belly: '#ffe8a3',
    face: `<circle cx="50" cy="52" r="44" fill="#b35c1e"/><circle cx="50" cy="54" r="30" fill="#f0a830"/>${eyes(48, 12, 4)}
      <ellipse cx="50" cy="66" rx="12" ry="8" fill="#ffe8a3"/><path d="M45 61 L55 61 L50 66Z" fill="#5c2b0a"/>`,
    extra:
      '<path d="M30 56 Q78 60 74 14" stroke="#f0a830" stroke-width="6" fill="none"/><circle cx="74" cy="12" r="7" fill="#b35c1e"/>',
  },
  elephant: {
    fur: '#909aa5',
    belly: '#c3cad1',
    face: `<ellipse cx="16" cy="48" rx="18" ry="28" fill="#7a848f"/><ellipse cx="84" cy="48" rx="18" ry="28" fill="#7a848f"/>
      <circle cx="50" cy="48" r="30" fill="#909aa5"/>${eyes(42, 12, 4)}
      <path d="M44 56 Q42 84 54 96 L60 92 Q52 80 56 56Z" fill="#909aa5"/><path d="M38 62 l-6 10 M62 62 l6 10" stroke="#f8f9fa" stroke-width="4" stroke-linecap="round"/>`,
  },
  bird: {
    fur: '#4dabf7',
    belly: '#fff3bf',
    face: `<circle cx="50" cy="52" r="34" fill="#4dabf7"/><path d="M42 20 Q50 6 58 20" stroke="#1971c2" stroke-width="4" fill="none"/>
      ${eyes(46, 13, 5)}<path d="M42 58 L58 58 L50 70Z" fill="#f59f00"/>`,
    extra: '<path d="M-36 10 Q-70 30 -38 56Z M36 10 Q70 30 38 56Z" fill="#1c7ed6"/>',
  },
  fish: {
    fur: '#ff922b',
    belly: '#ffe8cc',
    face: `<ellipse cx="50" cy="54" rx="38" ry="30" fill="#ff922b"/><path d="M30 30 Q50 8 70 30Z" fill="#e8590c"/>${eyes(48, 14, 6)}
      <ellipse cx="50" cy="68" rx="8" ry="5" fill="#c92a2a"/><path d="M20 56 q-8 -4 -4 8 M80 56 q8 -4 4 8" stroke="#e8590c" stroke-width="3" fill="none"/>`,
    extra: '<path d="M30 50 L76 20 L70 50 L76 80Z" fill="#e8590c"/>',
  },
  pig: {
    fur: '#faa2c1',
    belly: '#fcc2d7',
    face: `<path d="M18 30 L30 12 L40 28Z M82 30 L70 12 L60 28Z" fill="#f783ac"/><circle cx="50" cy="54" r="36" fill="#faa2c1"/>
      ${eyes(44, 15, 4)}<ellipse cx="50" cy="64" rx="14" ry="10" fill="#f783ac"/><circle cx="45" cy="64" r="3" fill="#a61e4d"/><circle cx="55" cy="64" r="3" fill="#a61e4d"/>`,
  },
  panda: {
    fur: '#f8f9fa',
    belly: '#fff',
    face: `<circle cx="24" cy="24" r="12" fill="#212529"/><circle cx="76" cy="24" r="12" fill="#212529"/>
      <circle cx="50" cy="54" r="36" fill="#fff" stroke="#ced4da"/><ellipse cx="36" cy="50" rx="9" ry="12" fill="#212529" transform="rotate(-20 36 50)"/>
      <ellipse cx="64" cy="50" rx="9" ry="12" fill="#212529" transform="rotate(20 64 50)"/><circle cx="37" cy="49" r="3" fill="#fff"/><circle cx="63" cy="49" r="3" fill="#fff"/>
      <ellipse cx="50" cy="68" rx="6" ry="4" fill="#212529"/>`,
    extra:
      '<ellipse cx="-30" cy="40" rx="12" ry="26" fill="#212529"/><ellipse cx="30" cy="40" rx="12" ry="26" fill="#212529"/>',
  },
  duck: {
    fur: '#ffd43b',
    belly: '#fff3bf',
    face: `<circle cx="50" cy="50" r="34" fill="#ffd43b"/>${eyes(44, 13, 4)}<ellipse cx="50" cy="64" rx="18" ry="8" fill="#f76707"/>`,
    extra:
      '<ellipse cx="-16" cy="84" rx="14" ry="5" fill="#f76707"/><ellipse cx="16" cy="84" rx="14" ry="5" fill="#f76707"/>',
  },
};
/** Other names drawn as one of the animals above (a chick is a little bird). */
const SAME: Record<string, string> = {
  chick: 'bird',
  hen: 'bird',
  robin: 'bird',
  crow: 'bird',
  goose: 'duck',
  swan: 'duck',
  kitten: 'cat',
  puppy: 'dog',
};

/**
 * An animal the illustrator has no drawing of: a round, friendly character with no ears, beak or
 * snout, so the picture never shows a different animal from the one the words name.
 */
const NEUTRAL: { face: string; fur: string; belly: string; extra?: string } = {
  fur: '#9775fa',
  belly: '#e5dbff',
  face: `<circle cx="50" cy="54" r="34" fill="#9775fa"/>${eyes(48, 12, 5)}<path d="M38 64 Q50 74 62 64" stroke="#212529" stroke-width="3" fill="none" stroke-linecap="round"/>`,
};

/** The drawing for an animal: its own, a close one, or the neutral character. */
export function drawingOf(animal: string): { name: string } {
  const key = animal.toLowerCase();
  const name = ANIMALS[key] ? key : SAME[key] && ANIMALS[SAME[key]] ? SAME[key] : 'someone';
  return { name };
}

function rnd(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 4294967296;
    return seed / 4294967296;
  };
}

/**
 * The hero: the animal that was asked for, with its own details behind it (an owl's wings and
 * claws, a fox's tail, a dragon's wings), a body with a belly, a scarf in the mood's colour, and
 * the game's drawing of its face on top. An animal the demo does not know is drawn as the neutral
 * character, never as another animal.
 */
function hero(animal: string, mood: Scene['mood'], x: number, y: number): string {
  const a = ANIMALS[drawingOf(animal).name] ?? NEUTRAL;
  const scarf = mood === 'tense' ? '#c92a2a' : mood === 'joyful' ? '#fcc419' : '#4263eb';
  return `<g transform="translate(${x} ${y})" data-hero="${drawingOf(animal).name}">
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
    if (scene.landmark !== 'moon')
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
  const ground = scene.landmark === 'moon' ? '#ced4da' : scene.landmark === 'pole' ? '#f1f3f5' : GROUND[scene.place];
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
  parts.push(landmark(scene, r));
  if (scene.place === 'sky' && !scene.landmark)
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

/** The destination drawn as itself, on the pages where the hero is there: the moon, the pole... */
function landmark(scene: Scene, r: () => number): string {
  switch (scene.landmark) {
    case 'moon': {
      // The moon's grey ground with craters, and the Earth in the black sky.
      const craters = Array.from({ length: 7 }, () => {
        const x = r() * 800;
        return `<ellipse cx="${x}" cy="${420 + r() * 120}" rx="${20 + r() * 30}" ry="${6 + r() * 6}" fill="#adb5bd"/>`;
      });
      return `<g data-landmark="moon">${craters.join('')}<circle cx="150" cy="110" r="46" fill="#1c7ed6"/><path d="M120 90 q20 -20 40 0 t10 30 q-30 10 -50 -30Z M150 140 q20 -5 25 -20 q10 20 -25 20Z" fill="#40c057"/></g>`;
    }
    case 'space':
      return `<g data-landmark="space"><circle cx="170" cy="130" r="40" fill="#e599f7"/><ellipse cx="170" cy="130" rx="70" ry="14" fill="none" stroke="#fcc419" stroke-width="6"/><circle cx="330" cy="80" r="18" fill="#ff8787"/></g>`;
    case 'pole':
      return `<g data-landmark="pole"><path d="M60 420 L120 330 L180 420Z M600 430 L680 320 L760 430Z" fill="#e7f5ff" stroke="#a5d8ff" stroke-width="3"/>
        <rect x="396" y="250" width="12" height="170" fill="#fff" stroke="#868e96"/>${Array.from({ length: 6 }, (_, i) => `<rect x="396" y="${256 + i * 28}" width="12" height="12" fill="#e03131"/>`).join('')}
        <circle cx="402" cy="246" r="10" fill="#fcc419"/></g>`;
    case 'castle':
      return `<g data-landmark="castle"><rect x="520" y="230" width="200" height="160" fill="#ced4da"/><rect x="500" y="190" width="50" height="200" fill="#adb5bd"/><rect x="690" y="190" width="50" height="200" fill="#adb5bd"/>
        <path d="M495 192 L525 140 L555 192Z M685 192 L715 140 L745 192Z" fill="#7048e8"/><path d="M600 390 v-60 a20 20 0 0 1 40 0 v60Z" fill="#5c3d2e"/></g>`;
    case 'volcano':
      return `<g data-landmark="volcano"><path d="M420 420 L560 200 L620 200 L760 420Z" fill="#5c3d2e"/><path d="M560 200 L620 200 L600 250 L590 220 L575 260Z" fill="#f03e3e"/><circle cx="590" cy="170" r="24" fill="#868e96" opacity="0.7"/></g>`;
    case 'island':
      return `<g data-landmark="island"><ellipse cx="600" cy="370" rx="130" ry="30" fill="#ffe066"/><path d="M600 360 q-10 -70 10 -120" stroke="#8d5a3b" stroke-width="10" fill="none"/><path d="M610 240 q-50 -10 -80 20 M610 240 q50 -10 80 20 M610 240 q-20 -40 -60 -40 M610 240 q20 -40 60 -40" stroke="#2f9e44" stroke-width="10" fill="none"/></g>`;
    case 'lighthouse':
      return `<g data-landmark="lighthouse"><path d="M600 400 L620 200 L660 200 L680 400Z" fill="#fff"/><path d="M606 340 L674 340 L677 370 L603 370Z M613 270 L667 270 L670 300 L610 300Z" fill="#e03131"/><rect x="615" y="170" width="50" height="30" fill="#ffd43b"/></g>`;
    default:
      return '';
  }
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

/**
 * The cover's grid for `n` pages: about square, and with no empty cell when a column count near
 * the square root divides `n` (3 pages are 3 x 1, not 2 x 2 with a hole; 8 are 4 x 2).
 */
export function coverGrid(n: number): { cols: number; rows: number } {
  const root = Math.max(1, Math.ceil(Math.sqrt(n)));
  const cols = [root, root + 1].find((c) => c <= n && n % c === 0) ?? root;
  return { cols, rows: Math.ceil(n / cols) };
}

/** Bind the book: a cover made of every page, laid out as a contact sheet at print size. */
export async function bindCover(pages: readonly Buffer[]): Promise<Buffer> {
  const { cols, rows } = coverGrid(pages.length);
  const w = Math.floor(PRINT_WIDTH / cols);
  const h = Math.floor(PRINT_HEIGHT / rows);
  // A last row that is not full is centred, so no empty cell sits in a corner.
  const lastRow = pages.length - (rows - 1) * cols;
  const tiles = await Promise.all(
    pages.map(async (p, i) => {
      const row = Math.floor(i / cols);
      const shift = row === rows - 1 ? Math.floor(((cols - lastRow) * w) / 2) : 0;
      return {
        input: await sharp(p)
          .resize(w - 16, h - 16)
          .png()
          .toBuffer(),
        left: (i % cols) * w + 8 + shift,
        top: row * h + 8,
      };
    }),
  );
  const cover = await sharp({
    create: { width: PRINT_WIDTH, height: PRINT_HEIGHT, channels: 3, background: '#fff9db' },
  })
    .composite(tiles)
    .png()
    .toBuffer();
  return sharp(cover).resize(Math.min(800, PRINT_WIDTH)).webp({ quality: 82 }).toBuffer();
}
