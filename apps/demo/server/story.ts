/**
 * The story writer: a small generative grammar. A plot is chosen from the child's words (a
 * keyword picks the theme), then each page is expanded from templates with the hero's name and
 * animal, a companion, places and objects drawn from the theme, with a seeded random source so the
 * same request writes the same book.
 */

export interface StoryRequest {
  hero: string;
  animal: string;
  plot: string;
  pages: number;
}

export interface Scene {
  place: 'forest' | 'sea' | 'mountains' | 'sky' | 'village' | 'cave';
  time: 'day' | 'sunset' | 'night';
  weather: 'clear' | 'rain' | 'snow' | 'wind';
  mood: 'calm' | 'tense' | 'joyful';
}

export interface StoryPage {
  number: number;
  text: string;
  scene: Scene;
}

export interface Story {
  title: string;
  pages: StoryPage[];
}

interface Theme {
  keywords: RegExp;
  /** What the book is called after: "Luna and the Fallen Star". */
  prize: string;
  goal: string;
  places: Scene['place'][];
  object: string;
  obstacle: string;
  companion: string;
}

const THEMES: Theme[] = [
  {
    keywords: /treasure|gold|map|pirate|island/i,
    prize: 'Lost Treasure',
    goal: 'find the lost treasure',
    places: ['sea', 'cave', 'forest'],
    object: 'an old map with a red X',
    obstacle: 'a storm that swallowed the path',
    companion: 'a parrot who could count to seven',
  },
  {
    keywords: /star|moon|space|sky|fly|rocket/i,
    prize: 'Fallen Star',
    goal: 'bring a fallen star back to the sky',
    places: ['sky', 'mountains', 'village'],
    object: 'a star that hummed like a kettle',
    obstacle: 'a cloud too thick to see through',
    companion: 'a sleepy owl with silver glasses',
  },
  {
    keywords: /friend|lonely|new|school|home/i,
    prize: 'Knitted Scarf',
    goal: 'find a true friend',
    places: ['village', 'forest', 'mountains'],
    object: 'a scarf knitted in every colour',
    obstacle: 'a shyness as tall as a tree',
    companion: 'a small hedgehog who loved riddles',
  },
  {
    keywords: /dragon|castle|knight|king|queen|magic/i,
    prize: 'Sleeping Dragon',
    goal: 'wake the sleeping dragon of the hill',
    places: ['mountains', 'cave', 'village'],
    object: 'a lantern that never went out',
    obstacle: 'a maze of thorny roses',
    companion: 'a brave little mouse in a tin helmet',
  },
];

const FALLBACK: Theme = {
  keywords: /.^/,
  prize: 'Blue Hills',
  goal: 'see what lies beyond the blue hills',
  places: ['forest', 'mountains', 'sea'],
  object: 'a compass that pointed to whatever you wished for',
  obstacle: 'a river with no bridge',
  companion: 'a talkative frog',
};

/** A seeded random source (mulberry32), so a request always writes the same book. */
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

const OPENINGS = [
  'Once upon a time, in a corner of the world that maps forget, lived {hero} the {animal}.',
  'There was once a {animal} called {hero}, who had never been further than the end of the garden.',
  'Every morning {hero} the {animal} looked at the horizon and wondered.',
];
const CALLS = [
  'One day {hero} found {object}, and knew at once what had to be done: {goal}.',
  'When the wind brought {object} to the doorstep, {hero} decided to {goal}.',
];
const MEETS = [
  'On the way {hero} met {companion}. "I am coming too," it said, and that was that.',
  '{Companion} was sitting on a stone, waiting, as if it had known {hero} would come.',
];
const JOURNEYS = [
  'They crossed the {place} while the {time} turned everything {colour}.',
  'The {place} was {adjective} and full of sounds {hero} had never heard before.',
  '{hero} counted steps to stay brave: one hundred, two hundred, then stopped counting.',
  'They shared their bread and told stories until the {time} was over.',
];
const TROUBLES = [
  'Then came {obstacle}. {hero} wanted to turn back, just for a moment.',
  'But {obstacle} stood between them and their goal, and nobody knew what to do.',
];
const TURNS = [
  '"We do it together," said {companion}, and suddenly it did not look so hard.',
  '{hero} remembered {object} and held it up high. Something changed.',
];
const ENDINGS = [
  'And so {hero} did {goal_past}, and came home with a story bigger than the {place}.',
  'That night {hero} the {animal} fell asleep smiling, because the world was larger, and kinder, than it had seemed.',
];

const ADJECTIVES = ['wide', 'whispering', 'silver', 'enormous', 'quiet', 'shining'];
const COLOURS = ['gold', 'pink', 'deep blue', 'orange', 'violet'];
const TIMES: Scene['time'][] = ['day', 'sunset', 'night'];
const WEATHERS: Scene['weather'][] = ['clear', 'clear', 'rain', 'wind', 'snow'];

/** Fill `{slots}` from the context; a capitalised slot capitalises the value. */
function fill(template: string, ctx: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = ctx[key.toLowerCase()] ?? key;
    return key[0] === key[0]!.toUpperCase() ? value[0]!.toUpperCase() + value.slice(1) : value;
  });
}

/** The story's outline: title and one scene plan per page. */
export function outline(request: StoryRequest): { title: string; theme: Theme; rnd: () => number } {
  const theme = THEMES.find((t) => t.keywords.test(request.plot)) ?? FALLBACK;
  const rnd = random(`${request.hero}|${request.animal}|${request.plot}|${request.pages}`);
  return { title: `${request.hero} and the ${theme.prize}`, theme, rnd };
}

/** Write page `n` (1-based) of `total`. */
export function writePage(request: StoryRequest, plan: ReturnType<typeof outline>, n: number): StoryPage {
  const { theme, rnd } = plan;
  const total = request.pages;
  const place = pick(rnd, theme.places);
  const ctx: Record<string, string> = {
    hero: request.hero,
    animal: request.animal.toLowerCase(),
    goal: theme.goal,
    goal_past: theme.goal.replace(
      /^(\w+)/,
      (v) => ({ find: 'find', bring: 'bring', wake: 'wake', see: 'see' })[v] ?? v,
    ),
    object: theme.object,
    obstacle: theme.obstacle,
    companion: theme.companion,
    place,
    time: pick(rnd, TIMES),
    colour: pick(rnd, COLOURS),
    adjective: pick(rnd, ADJECTIVES),
  };
  const arc = n / total;
  const template =
    n === 1
      ? pick(rnd, OPENINGS)
      : n === 2
        ? pick(rnd, CALLS)
        : n === 3
          ? pick(rnd, MEETS)
          : n === total
            ? pick(rnd, ENDINGS)
            : arc > 0.6 && arc <= 0.75
              ? pick(rnd, TROUBLES)
              : arc > 0.75
                ? pick(rnd, TURNS)
                : pick(rnd, JOURNEYS);
  const mood: Scene['mood'] = arc > 0.6 && arc <= 0.75 ? 'tense' : n === total ? 'joyful' : 'calm';
  return {
    number: n,
    text: fill(template, ctx),
    scene: { place, time: ctx.time as Scene['time'], weather: pick(rnd, WEATHERS), mood },
  };
}
