/**
 * Reading the plot a child typed ("an owl who loses her glasses and finds them on the moon"):
 * which animal the hero is, where the story goes, what it is about, and whether the thing is lost,
 * found or carried. A small lexicon and a few patterns, no model: a word the lexicon does not know
 * is still used, as long as it sits where a place or an object would.
 */

export type ScenePlace = 'forest' | 'sea' | 'mountains' | 'sky' | 'village' | 'cave';

/** What the plot asked for, with the words to use for it in sentences. */
export interface Plot {
  /** The hero's animal, singular: from the plot if it names one, else the form's choice. */
  animal: string;
  /** The destination: `word` as the child wrote it ("moon"), `phrase` ready for a sentence ("on the moon"). */
  place: { word: string; phrase: string; scene: ScenePlace };
  /** The thing the story is about: "glasses", its possessive form ("her glasses") and whether it is plural. */
  object: { noun: string; phrase: string; plural: boolean };
  /** Lost (to be searched for), found (to be brought somewhere), or carried on a journey. */
  kind: 'lost' | 'found' | 'journey';
  /** "her", "his" or "their", from the plot's own pronouns. */
  possessive: 'her' | 'his' | 'their';
}

/** Animals, with the plurals and young names a child may use. */
const ANIMALS: Record<string, string> = {};
for (const a of (
  'fox bear rabbit cat owl mouse frog dragon dog pig duck hedgehog badger squirrel elephant lion tiger ' +
  'penguin turtle tortoise horse unicorn wolf deer hen goat sheep whale otter bee snail giraffe monkey panda ' +
  'koala zebra goose swan crow robin seal dolphin crab octopus cow donkey hamster lizard snake spider ant ' +
  'butterfly beaver raccoon moose kangaroo'
).split(' ')) {
  ANIMALS[a] = a;
  ANIMALS[/(s|x|ch)$/.test(a) ? `${a}es` : `${a}s`] = a;
}
for (const pair of (
  'mice:mouse geese:goose wolves:wolf bunny:rabbit bunnies:rabbit kitten:cat kitty:cat puppy:dog ' +
  'piglet:pig duckling:duck cub:bear foal:horse owlet:owl butterflies:butterfly'
).split(' ')) {
  const [young, animal] = pair.split(':') as [string, string];
  ANIMALS[young] = animal;
}

/**
 * Places by the scene the illustrator draws for them; a `*` marks the places a sentence puts
 * things "on" ("on the moon"), a `^` those it puts things "by" ("by the sea"), the rest take "in".
 */
const PLACE_WORDS: Record<ScenePlace, string> = {
  sky: 'moon* sky stars star* clouds cloud* space rainbow* planet* mars*',
  sea: 'beach* sea^ ocean^ island* river^ lake^ pond^ ship* harbour harbor shore*',
  forest: 'forest woods wood jungle garden park meadow orchard tree swamp',
  mountains: 'mountain* mountains hill* hills volcano* desert glacier* north pole*',
  village: 'village town city castle school market farm* library house kitchen zoo',
  cave: 'cave tunnel mine underground cellar burrow den',
};
const PLACES: Record<string, { scene: ScenePlace; prep: 'on' | 'by' | 'in' }> = {};
for (const [scene, list] of Object.entries(PLACE_WORDS) as [ScenePlace, string][]) {
  for (const w of list.split(' ')) {
    PLACES[w.replace(/[*^]$/, '')] = { scene, prep: w.endsWith('*') ? 'on' : w.endsWith('^') ? 'by' : 'in' };
  }
}

/** Words that end a noun phrase or are never the object itself. */
const STOP = new Set(
  (
    'a an the her his their its my our your some and or but who which that then with without on in at to into ' +
    'onto under over across from for of by near behind beyond up down out off again all very so because when ' +
    'while finds find found loses lose lost gets get goes go is was are were has have had it them they she he ' +
    'one day back home away there where what how'
  ).split(' '),
);

const LOST = /\b(los(?:e|es|t|ing)|misplac\w*|forg[eo]t\w*|drop(?:s|ped)?|missing|stolen|steal\w*)\b/i;
const FOUND = /\b(find(?:s|ing)?|found|discover\w*|dig(?:s|ging)?\s+up|spot(?:s|ted)?)\b/i;

/** Guess a plural from the spelling ("glasses" yes, "compass" no). */
const isPlural = (noun: string): boolean => /[^s]s$|ses$|ies$/.test(noun) && !/(ss|us|is)$/.test(noun);

/**
 * Read a plot. `fallbackAnimal` is used when the plot names no animal; when the plot names no
 * place or object, a fitting default is chosen so every book still has both.
 */
export function parsePlot(plot: string, fallbackAnimal: string): Plot {
  const words = plot.toLowerCase().match(/[a-z]+/g) ?? [];
  const animal = words.map((w) => ANIMALS[w]).find((a) => a !== undefined) ?? fallbackAnimal.toLowerCase();
  const possessive = /\b(her|she)\b/i.test(plot) ? 'her' : /\b(his|he)\b/i.test(plot) ? 'his' : 'their';

  // The place: a known place word, preferring the last one (where the story ends up).
  let place: Plot['place'] | undefined;
  for (let i = words.length - 1; i >= 0 && !place; i--) {
    const w = words[i]!;
    const known = PLACES[w];
    if (known) {
      const the = w === 'space' || w === 'underground' || w === 'mars' ? '' : 'the ';
      const prep = w === 'underground' ? '' : `${known.prep} `;
      place = { word: w, phrase: `${prep}${the}${w}`, scene: known.scene };
    }
  }
  // An unknown place still counts when it follows "on/in/at/to the".
  if (!place) {
    const m = /\b(on|in|at|to|under|inside)\s+the\s+([a-z]+)/i.exec(plot);
    if (m && !STOP.has(m[2]!.toLowerCase()) && !ANIMALS[m[2]!.toLowerCase()]) {
      const w = m[2]!.toLowerCase();
      const prep = m[1]!.toLowerCase() === 'to' ? 'at' : m[1]!.toLowerCase();
      place = { word: w, phrase: `${prep} the ${w}`, scene: 'village' };
    }
  }
  place ??= { word: 'hills', phrase: 'beyond the blue hills', scene: 'mountains' };

  // The object: the first noun phrase after a determiner that is neither the hero nor the place.
  let object: Plot['object'] | undefined;
  const det = /\b(her|his|their|its|a|an|the|some|my)\s+([a-z]+(?:\s+[a-z]+){0,2})/gi;
  for (let m = det.exec(plot); m && !object; m = det.exec(plot)) {
    const phrase: string[] = [];
    for (const w of m[2]!.toLowerCase().split(/\s+/)) {
      if (STOP.has(w)) break;
      phrase.push(w);
    }
    const noun = phrase.join(' ');
    const head = phrase.at(-1);
    if (!head || ANIMALS[head] || PLACES[head] || head === place.word) continue;
    const determiner = m[1]!.toLowerCase();
    const possessed = ['her', 'his', 'their', 'its', 'my'].includes(determiner);
    object = {
      noun,
      phrase: possessed ? `${possessive} ${noun}` : `the ${noun}`,
      plural: isPlural(head),
    };
  }
  object ??= { noun: 'compass', phrase: `${possessive} little compass`, plural: false };

  const kind = LOST.test(plot) ? 'lost' : FOUND.test(plot) ? 'found' : 'journey';
  return { animal, place, object, kind, possessive };
}
