import { svg, type SVGTemplateResult } from 'lit';

/**
 * The animals of the waiting game, each drawn as a small SVG face (no emoji font needed, so it
 * looks the same on every device). All share a 100x100 view box.
 */
export interface Animal {
  name: string;
  draw: () => SVGTemplateResult;
}

const eyes = (y = 45, dx = 14, r = 5) =>
  svg`<circle cx=${50 - dx} cy=${y} r=${r} fill="#212529"/><circle cx=${50 + dx} cy=${y} r=${r} fill="#212529"/>
      <circle cx=${50 - dx + 1.5} cy=${y - 1.5} r=${r / 3} fill="#fff"/><circle cx=${50 + dx + 1.5} cy=${y - 1.5} r=${r / 3} fill="#fff"/>`;

export const ANIMALS: readonly Animal[] = [
  {
    name: 'Fox',
    draw: () => svg`<path d="M18 18 L38 38 L62 38 L82 18 L78 55 L50 85 L22 55Z" fill="#f76707"/>
      <path d="M24 52 L50 85 L38 58Z M76 52 L50 85 L62 58Z" fill="#fff"/><path d="M22 22 L34 36 L24 40Z M78 22 L66 36 L76 40Z" fill="#5c2b0a"/>
      ${eyes(50, 13, 4)}<circle cx="50" cy="80" r="4" fill="#212529"/>`,
  },
  {
    name: 'Panda',
    draw: () => svg`<circle cx="24" cy="24" r="12" fill="#212529"/><circle cx="76" cy="24" r="12" fill="#212529"/>
      <circle cx="50" cy="54" r="36" fill="#fff" stroke="#ced4da"/><ellipse cx="36" cy="50" rx="9" ry="12" fill="#212529" transform="rotate(-20 36 50)"/>
      <ellipse cx="64" cy="50" rx="9" ry="12" fill="#212529" transform="rotate(20 64 50)"/><circle cx="37" cy="49" r="3" fill="#fff"/><circle cx="63" cy="49" r="3" fill="#fff"/>
      <ellipse cx="50" cy="68" rx="6" ry="4" fill="#212529"/>`,
  },
  {
    name: 'Owl',
    draw: () => svg`<path d="M20 20 L35 32 L65 32 L80 20 L82 70 Q50 98 18 70Z" fill="#8d5a3b"/>
      <circle cx="36" cy="48" r="14" fill="#fff3bf"/><circle cx="64" cy="48" r="14" fill="#fff3bf"/>${eyes(48, 14, 7)}
      <path d="M45 60 L55 60 L50 72Z" fill="#f59f00"/><path d="M30 78 Q50 88 70 78" stroke="#5c3d2e" stroke-width="3" fill="none"/>`,
  },
  {
    name: 'Frog',
    draw: () => svg`<circle cx="30" cy="30" r="15" fill="#51cf66"/><circle cx="70" cy="30" r="15" fill="#51cf66"/>
      <ellipse cx="50" cy="60" rx="40" ry="30" fill="#51cf66"/>${eyes(29, 20, 7)}
      <path d="M28 66 Q50 82 72 66" stroke="#2b8a3e" stroke-width="4" fill="none"/><circle cx="25" cy="62" r="5" fill="#ff8787" opacity="0.6"/><circle cx="75" cy="62" r="5" fill="#ff8787" opacity="0.6"/>`,
  },
  {
    name: 'Pig',
    draw: () => svg`<path d="M18 30 L30 12 L40 28Z M82 30 L70 12 L60 28Z" fill="#f783ac"/><circle cx="50" cy="54" r="36" fill="#faa2c1"/>
      ${eyes(44, 15, 4)}<ellipse cx="50" cy="64" rx="14" ry="10" fill="#f783ac"/><circle cx="45" cy="64" r="3" fill="#a61e4d"/><circle cx="55" cy="64" r="3" fill="#a61e4d"/>`,
  },
  {
    name: 'Penguin',
    draw: () => svg`<ellipse cx="50" cy="54" rx="36" ry="40" fill="#212529"/><path d="M50 30 Q22 36 26 62 Q34 86 50 88 Q66 86 74 62 Q78 36 50 30Z" fill="#fff"/>
      ${eyes(48, 11, 4)}<path d="M43 56 L57 56 L50 66Z" fill="#f59f00"/>`,
  },
  {
    name: 'Cat',
    draw: () => svg`<path d="M16 14 L40 32 L60 32 L84 14 L84 60 Q50 94 16 60Z" fill="#adb5bd"/><path d="M22 22 L34 32 L24 38Z M78 22 L66 32 L76 38Z" fill="#ffc9c9"/>
      <ellipse cx="36" cy="50" rx="5" ry="7" fill="#94d82d"/><ellipse cx="64" cy="50" rx="5" ry="7" fill="#94d82d"/><rect x="35" y="45" width="2" height="10" fill="#212529"/><rect x="63" y="45" width="2" height="10" fill="#212529"/>
      <path d="M46 62 L54 62 L50 67Z" fill="#f06595"/><path d="M20 62 L40 66 M20 70 L40 68 M80 62 L60 66 M80 70 L60 68" stroke="#495057" stroke-width="1.5"/>`,
  },
  {
    name: 'Bear',
    draw: () => svg`<circle cx="24" cy="26" r="13" fill="#8d5a3b"/><circle cx="76" cy="26" r="13" fill="#8d5a3b"/><circle cx="24" cy="26" r="6" fill="#d9a679"/><circle cx="76" cy="26" r="6" fill="#d9a679"/>
      <circle cx="50" cy="56" r="36" fill="#8d5a3b"/>${eyes(48, 14, 4)}<ellipse cx="50" cy="68" rx="14" ry="11" fill="#d9a679"/><ellipse cx="50" cy="63" rx="6" ry="4" fill="#212529"/>`,
  },
  {
    name: 'Mouse',
    draw: () => svg`<circle cx="22" cy="30" r="18" fill="#ced4da"/><circle cx="78" cy="30" r="18" fill="#ced4da"/><circle cx="22" cy="30" r="10" fill="#ffc9c9"/><circle cx="78" cy="30" r="10" fill="#ffc9c9"/>
      <ellipse cx="50" cy="60" rx="30" ry="28" fill="#ced4da"/>${eyes(54, 11, 4)}<circle cx="50" cy="70" r="4" fill="#f06595"/>`,
  },
  {
    name: 'Chick',
    draw: () => svg`<circle cx="50" cy="54" r="36" fill="#ffd43b"/><path d="M44 20 Q50 8 56 20" stroke="#f59f00" stroke-width="4" fill="none"/>
      ${eyes(48, 13, 4)}<path d="M42 58 L58 58 L50 68Z" fill="#f76707"/><circle cx="30" cy="62" r="5" fill="#ff8787" opacity="0.6"/><circle cx="70" cy="62" r="5" fill="#ff8787" opacity="0.6"/>`,
  },
  {
    name: 'Rabbit',
    draw: () => svg`<ellipse cx="36" cy="22" rx="8" ry="20" fill="#dee2e6"/><ellipse cx="64" cy="22" rx="8" ry="20" fill="#dee2e6"/>
      <ellipse cx="36" cy="22" rx="4" ry="15" fill="#ffc9c9"/><ellipse cx="64" cy="22" rx="4" ry="15" fill="#ffc9c9"/>
      <circle cx="50" cy="62" r="30" fill="#dee2e6"/>${eyes(56, 11, 4)}<path d="M46 67 L54 67 L50 72Z" fill="#f06595"/>
      <path d="M50 72 v5 M50 77 q-5 4 -9 0 M50 77 q5 4 9 0" stroke="#495057" stroke-width="1.5" fill="none"/>`,
  },
  {
    name: 'Dog',
    draw: () => svg`<ellipse cx="18" cy="46" rx="12" ry="26" fill="#7a4a2a"/><ellipse cx="82" cy="46" rx="12" ry="26" fill="#7a4a2a"/>
      <circle cx="50" cy="52" r="32" fill="#c08a5b"/>${eyes(46, 13, 4)}<ellipse cx="50" cy="66" rx="14" ry="10" fill="#f3e1cf"/>
      <ellipse cx="50" cy="61" rx="6" ry="4" fill="#212529"/><path d="M50 66 q-2 8 4 10" stroke="#e03131" stroke-width="3" fill="none"/>`,
  },
  {
    name: 'Lion',
    draw: () => svg`<circle cx="50" cy="52" r="44" fill="#b35c1e"/><circle cx="50" cy="54" r="30" fill="#f0a830"/>${eyes(48, 12, 4)}
      <ellipse cx="50" cy="66" rx="12" ry="8" fill="#ffe8a3"/><path d="M45 61 L55 61 L50 66Z" fill="#5c2b0a"/>`,
  },
  {
    name: 'Elephant',
    draw: () => svg`<ellipse cx="16" cy="48" rx="18" ry="28" fill="#7a848f"/><ellipse cx="84" cy="48" rx="18" ry="28" fill="#7a848f"/>
      <circle cx="50" cy="48" r="30" fill="#909aa5"/>${eyes(42, 12, 4)}
      <path d="M44 56 Q42 84 54 96 L60 92 Q52 80 56 56Z" fill="#909aa5"/><path d="M38 62 l-6 10 M62 62 l6 10" stroke="#f8f9fa" stroke-width="4" stroke-linecap="round"/>`,
  },
  {
    name: 'Fish',
    draw: () => svg`<path d="M70 54 L96 32 L92 54 L96 76Z" fill="#e8590c"/><ellipse cx="46" cy="54" rx="36" ry="28" fill="#ff922b"/>
      <path d="M28 30 Q46 10 64 30Z" fill="#e8590c"/>${eyes(48, 12, 5)}<ellipse cx="46" cy="68" rx="7" ry="4" fill="#c92a2a"/>`,
  },
  {
    name: 'Dragon',
    draw: () => svg`<path d="M28 30 L20 4 L40 26Z M72 30 L80 4 L60 26Z" fill="#ced4da"/>
      <ellipse cx="50" cy="52" rx="32" ry="30" fill="#37b24d"/><ellipse cx="50" cy="70" rx="20" ry="13" fill="#69db7c"/>
      ${eyes(44, 14, 5)}<circle cx="44" cy="68" r="2.5" fill="#1b5e20"/><circle cx="56" cy="68" r="2.5" fill="#1b5e20"/>`,
  },
];
