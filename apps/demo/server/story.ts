/**
 * The story writer: a small generative grammar over what the child typed. The plot is read for the
 * hero's animal, the place the story goes to and the thing it is about (story-plot.ts); the book
 * follows an arc of beats (opening, the thing lost or found, a companion, the journey, trouble, a
 * turn, arrival, resolution, home) fitted to the number of pages, and each page is expanded from
 * templates for its beat with those words. A seeded random source per page: the same request and
 * seed always write the same book, in any order of pages.
 */
import { landmarkOf, parsePlot, type Landmark, type Plot, type ScenePlace } from './story-plot.js';

export interface StoryRequest {
  hero: string;
  /** The form's animal: used when the plot names none. */
  animal: string;
  plot: string;
  pages: number;
  /** Varies the book for the same request. @default the request's own words */
  seed?: string;
}

export interface Scene {
  place: ScenePlace;
  /** The destination itself when the page is there and the illustrator has a drawing of it ("moon"). */
  landmark?: Landmark;
  time: 'day' | 'sunset' | 'night';
  weather: 'clear' | 'rain' | 'snow' | 'wind';
  mood: 'calm' | 'tense' | 'joyful';
}

export interface StoryPage {
  number: number;
  text: string;
  scene: Scene;
}

/** The plan of a book: its title, what the plot asked for, and the beat of every page. */
export interface StoryPlan {
  title: string;
  /** The hero's animal (the plot's, else the form's): draw this one. */
  animal: string;
  plot: Plot;
  /** Where the hero lives (never the destination's scene). */
  home: ScenePlace;
  companion: string;
  beats: Beat[];
  seed: string;
}

type Beat =
  'opening' | 'inciting' | 'clue' | 'companion' | 'journey' | 'trouble' | 'turn' | 'arrival' | 'resolution' | 'ending';

/** The whole arc, in order; shorter books keep the beats earliest in `PRIORITY`. */
const ARC: Beat[] = [
  'opening',
  'inciting',
  'clue',
  'companion',
  'journey',
  'trouble',
  'turn',
  'arrival',
  'resolution',
  'ending',
];
const PRIORITY: Beat[] = [
  'opening',
  'resolution',
  'inciting',
  'ending',
  'arrival',
  'companion',
  'trouble',
  'turn',
  'clue',
  'journey',
];

/** A seeded random source (mulberry32 over a string hash). */
function random(seedText: string): () => number {
  let seed = 0;
  for (let i = 0; i < seedText.length; i++) seed = (Math.imul(seed, 31) + seedText.charCodeAt(i)) | 0;
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

/** Templates per beat, and per kind of plot where the beat depends on it. */
type ByKind = 'inciting' | 'clue' | 'resolution';
const LINES: Record<Exclude<Beat, ByKind> | `${ByKind}.${Plot['kind']}`, string[]> = {
  opening: [
    'Once upon a time, {home}, there lived {aanimal} called {hero}.',
    'There was once {aanimal} called {hero}, who had never been further than the end of the garden.',
    'Every morning {hero} the {animal} looked out over the {homeword} and wondered what lay beyond it.',
  ],
  'inciting.lost': [
    'One morning {hero} reached for {object}, but {they} {was} gone. Not under the bed, not in the teapot: gone.',
    '{hero} had {object} at supper, and by breakfast {they} had vanished without a sound.',
  ],
  'inciting.found': [
    'One morning {hero} found {athing}, half hidden, and {they} {was} humming softly.',
    'When the wind blew {athing} to the doorstep, {hero} picked {it} up and felt brave at once.',
  ],
  'inciting.journey': [
    '{hero} packed {object}, a sandwich and a spare sock, and decided to go and see what waited {place}.',
    'One day {hero} said, "I am going {place}," and {object} went along, of course.',
  ],
  'clue.lost': [
    'A passing beetle said it had seen something glinting {place}. It was a long way, but {hero} did not mind.',
    'In the dust there was a trail of tiny sparkles, and the trail pointed {toward}.',
  ],
  'clue.found': [
    'A note was tucked inside, in tiny letters: "Take me home, {place}."',
    'The longer {hero} held {it}, the more {they} seemed to tug {toward}.',
  ],
  'clue.journey': [
    'An old map on the wall showed the way {toward}, with a dotted line and a drawing of {aanimal}.',
    'The wind kept blowing {toward}, as if it wanted to show the way.',
  ],
  companion: [
    'On the way {hero} met {companion}. "I am coming too," it said, and that was that.',
    '{Companion} was sitting on a stone, waiting, as if it had known {hero} would come.',
  ],
  journey: [
    'They crossed the {middle} while the {time} turned everything {colour}.',
    'The {middle} was {adjective} and full of sounds {hero} had never heard before.',
    '{hero} counted steps to stay brave: one hundred, two hundred, then stopped counting.',
    'They shared their bread and told stories until the {time} was over.',
    'A signpost pointed three ways at once. {Companion} chose the middle one, and it was right.',
    'They slept under a bush, warm and {adjective}, and dreamed of {theplace}.',
    'The path went up, and up, and then, kindly, down again.',
    'A family of beetles lent them a leaf for an umbrella.',
  ],
  trouble: [
    'Then came {obstacle}. {hero} wanted to turn back, just for a moment.',
    'But {obstacle} stood between them and {theplace}, and nobody knew what to do.',
  ],
  turn: [
    '"We do it together," said {companion}, and suddenly it did not look so hard.',
    '{hero} took a deep breath, the way {animals} do, and found a way round.',
  ],
  arrival: [
    'At last they arrived {place}. It was {adjective}, and much quieter than {hero} had imagined.',
    'And there it was: {theplace}, {adjective} under the {time} sky.',
  ],
  'resolution.lost': [
    'And right there {place}, shining as if nothing had happened, {was} {object}! {hero} laughed out loud.',
    '{hero} looked behind a rock {place}, and there {was} {object}, safe and sound.',
  ],
  'resolution.found': [
    '{hero} set {object} down {place}, and {they} glowed brighter than ever, right where {they} belonged.',
    'So {object} came {place} at last, and all of {theplace} seemed to sigh with joy.',
  ],
  'resolution.journey': [
    '{hero} stood {place} with {object}, and saw the whole world, small and bright, far below.',
    'Standing {place}, {hero} could see all the way home, and home looked like a toy.',
  ],
  ending: [
    'And so {hero} the {animal} came home, with {object} and a story bigger than {theplace}.',
    'That night {hero} fell asleep smiling, because the world was larger, and kinder, than it had seemed.',
  ],
};

/** A second sentence for a page, to give each page some body. */
const DETAILS = [
  'The air smelled of {smell}.',
  'Somewhere, {sound}.',
  'The {middle} was {adjective} and strange.',
  '{hero} thought about {object} and kept going.',
  'Nobody said anything for a while, and that was fine.',
  '{Companion} hummed a tune that had no end.',
];

const COMPANIONS = [
  'a parrot who could count to seven',
  'a sleepy tortoise with a lantern',
  'a small hedgehog who loved riddles',
  'a brave little mouse in a tin helmet',
  'a talkative frog',
  'a grey goose who knew every road',
];
const OBSTACLES: Record<ScenePlace, string[]> = {
  sky: ['a cloud too thick to see through', 'a wind that blew the wrong way'],
  sea: ['a wave as tall as a house', 'a fog that swallowed the shore'],
  forest: ['a maze of thorny roses', 'a river with no bridge'],
  mountains: ['a cliff as steep as a wall', 'a snowstorm that hid the path'],
  village: ['a gate that would not open', 'a crowd that would not listen'],
  cave: ['a tunnel as dark as ink', 'a door with no handle'],
};
const SCENES: ScenePlace[] = ['forest', 'sea', 'mountains', 'sky', 'village', 'cave'];
const HOMES: Record<ScenePlace, string> = {
  forest: 'in a hollow at the edge of the forest',
  sea: 'in a little house by the sea',
  mountains: 'in a cabin high in the mountains',
  sky: 'in a treehouse so tall it touched the clouds',
  village: 'in a crooked house in a small village',
  cave: 'in a snug burrow under a hill',
};
/** The scenes on the way, as a sentence names them ("the mountain pass was quiet"). */
const MIDDLES: Record<ScenePlace, string> = {
  forest: 'forest',
  sea: 'sea',
  mountains: 'mountain pass',
  sky: 'open sky',
  village: 'village',
  cave: 'cave',
};
const ADJECTIVES = ['wide', 'whispering', 'silver', 'enormous', 'quiet', 'shining'];
const COLOURS = ['gold', 'pink', 'deep blue', 'orange', 'violet'];
const SMELLS = ['rain and pine', 'salt and seaweed', 'warm bread', 'snow', 'wild mint'];
const SOUNDS = ['an owl called twice', 'water was dripping', 'bells rang far away', 'leaves whispered'];
const TIMES: Scene['time'][] = ['day', 'sunset', 'night'];
const WEATHERS: Scene['weather'][] = ['clear', 'clear', 'rain', 'wind', 'snow'];

/** Fill `{slots}` from the context; a capitalised slot capitalises the value. */
function fill(template: string, ctx: Record<string, string>): string {
  const text = template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = ctx[key.toLowerCase()] ?? key;
    return key[0] === key[0]!.toUpperCase() ? value[0]!.toUpperCase() + value.slice(1) : value;
  });
  return text[0]!.toUpperCase() + text.slice(1);
}

const titleCase = (s: string): string =>
  s.replace(/\b[a-z]+/g, (w) => (/^(on|in|by|at|the|to|of)$/.test(w) ? w : w[0]!.toUpperCase() + w.slice(1)));
const article = (noun: string): string => `${/^[aeiou]/.test(noun) ? 'an' : 'a'} ${noun}`;
const pluralOf = (noun: string): string =>
  ({ mouse: 'mice', goose: 'geese', wolf: 'wolves', sheep: 'sheep', deer: 'deer', moose: 'moose', fish: 'fish' })[
    noun
  ] ?? (/(s|x|ch|sh)$/.test(noun) ? `${noun}es` : /[^aeiou]y$/.test(noun) ? `${noun.slice(0, -1)}ies` : `${noun}s`);

/** The beats of a book of `pages` pages: the whole arc, shortened or with more journey pages. */
function beats(pages: number): Beat[] {
  if (pages >= ARC.length) {
    const extra: Beat[] = Array.from({ length: pages - ARC.length }, () => 'journey');
    const at = ARC.indexOf('journey');
    return [...ARC.slice(0, at), ...extra, ...ARC.slice(at)];
  }
  const keep = new Set(PRIORITY.slice(0, pages));
  return ARC.filter((b) => keep.has(b));
}

/** Plan a book: read the plot, choose a home and a companion, lay out the beats. */
export function outline(request: StoryRequest): StoryPlan {
  const plot = parsePlot(request.plot, request.animal);
  const seed = request.seed ?? `${request.hero}|${request.animal}|${request.plot}|${request.pages}`;
  const rnd = random(`${seed}|plan`);
  const home = pick(
    rnd,
    SCENES.filter((s) => s !== plot.place.scene),
  );
  const noun = titleCase(plot.object.noun);
  const title =
    plot.kind === 'lost'
      ? `${request.hero} and the Lost ${noun}`
      : plot.kind === 'found'
        ? `${request.hero} and the ${noun} ${titleCase(plot.place.phrase)}`
        : `${request.hero}'s Journey ${titleCase(plot.place.phrase.replace(/^(on|in|at|by) /, 'to '))}`;
  const companion = pick(
    rnd,
    COMPANIONS.filter((c) => !c.includes(plot.animal)),
  );
  return { title, animal: plot.animal, plot, home, companion, beats: beats(request.pages), seed };
}

/** Write page `n` (1-based) of the book planned by `plan`. */
export function writePage(request: StoryRequest, plan: StoryPlan, n: number): StoryPage {
  const rnd = random(`${plan.seed}|page ${n}`);
  const beat = plan.beats[n - 1] ?? 'journey';
  const { plot } = plan;
  const middle = pick(
    rnd,
    SCENES.filter((s) => s !== plan.home && s !== plot.place.scene),
  );
  const there = beat === 'arrival' || beat === 'resolution';
  const landmark = there ? landmarkOf(plot.place.word) : undefined;
  // The moon and space are drawn in a night sky, and the words say so.
  const night = landmark === 'moon' || landmark === 'space';
  const time = beat === 'trouble' || night ? 'night' : beat === 'ending' ? 'sunset' : pick(rnd, TIMES);
  const plural = plot.object.plural;
  const ctx: Record<string, string> = {
    hero: request.hero,
    animal: plot.animal,
    aanimal: article(plot.animal),
    animals: pluralOf(plot.animal),
    object: plot.object.phrase,
    athing: plural ? `some ${plot.object.noun}` : article(plot.object.noun),
    it: plural ? 'them' : 'it',
    they: plural ? 'they' : 'it',
    was: plural ? 'were' : 'was',
    place: plot.place.phrase,
    theplace: plot.place.the,
    toward: plot.place.phrase.replace(/^(on|in|at|by) /, 'towards '),
    home: HOMES[plan.home],
    homeword: plan.home === 'sky' ? 'clouds' : plan.home,
    companion: plan.companion,
    obstacle: pick(rnd, OBSTACLES[plot.place.scene]),
    middle: MIDDLES[middle],
    time,
    colour: pick(rnd, COLOURS),
    adjective: pick(rnd, ADJECTIVES),
    smell: pick(rnd, SMELLS),
    sound: pick(rnd, SOUNDS),
  };
  const lines =
    beat === 'inciting' || beat === 'clue' || beat === 'resolution' ? LINES[`${beat}.${plot.kind}`] : LINES[beat];
  // Journey pages and second sentences take turns through their lists (from a seeded start), so
  // a long book does not tell the same line twice in a row.
  const turn = Math.floor(random(`${plan.seed}|turns`)() * 1000) + n;
  const line = beat === 'journey' ? lines[turn % lines.length]! : pick(rnd, lines);
  const sentences = [fill(line, ctx)];
  // The first page must name the hero's animal, the last the thing and the place, whatever the beat.
  if (beat !== 'opening' && beat !== 'resolution' && beat !== 'ending')
    sentences.push(fill(DETAILS[(turn * 7) % DETAILS.length]!, ctx));
  const scene: Scene = {
    ...(landmark ? { landmark } : {}),
    place: there
      ? plot.place.scene
      : beat === 'opening' || beat === 'inciting' || beat === 'ending'
        ? plan.home
        : middle,
    time,
    weather: pick(rnd, WEATHERS),
    mood: beat === 'trouble' ? 'tense' : beat === 'resolution' || beat === 'ending' ? 'joyful' : 'calm',
  };
  return { number: n, text: sentences.join(' '), scene };
}

/** The whole book at once (tests, and callers that do not stream). */
export function writeStory(request: StoryRequest): { title: string; animal: string; pages: StoryPage[] } {
  const plan = outline(request);
  const pages = Array.from({ length: request.pages }, (_, i) => writePage(request, plan, i + 1));
  return { title: plan.title, animal: plan.animal, pages };
}
