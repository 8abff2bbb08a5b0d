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
  /**
   * The destination: `word` as the child wrote it ("moon", "north pole", "Paris"), `phrase` ready for
   * a sentence ("on the moon", "at the north pole", "in Paris"), `the` for a sentence that names it
   * ("the moon", "Paris"), and the scene the illustrator draws for it.
   */
  place: { word: string; phrase: string; the: string; scene: ScenePlace };
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
 * Places by the scene the illustrator draws for them; `_` joins the words of a place of several
 * ("north_pole"). A `*` marks the places a sentence puts things "on" ("on the moon"), a `^` those it
 * puts things "by" ("by the sea"), a `@` those it puts things "at" ("at the north pole"), the rest
 * take "in". A `!` marks a place named without "the" ("in space").
 */
const PLACE_WORDS: Record<ScenePlace, string> = {
  sky: 'moon* sky stars star* clouds cloud* space! outer_space! rainbow* planet* mars*! rocket*',
  sea: 'beach* sea^ ocean^ island* river^ lake^ pond^ ship* harbour harbor shore* seaside^ bottom_of_the_sea@',
  forest: 'forest woods wood jungle garden park meadow orchard tree* swamp rainforest',
  mountains:
    'mountain* mountains hill* hills volcano* desert glacier* north_pole@ south_pole@ pole@ arctic antarctic! ' +
    'antarctica! iceberg* snow top_of_the_mountain@',
  village: 'village town city castle school market farm* library house kitchen zoo circus fair* lighthouse@ palace',
  cave: 'cave tunnel mine underground! cellar burrow den',
};
type Prep = 'on' | 'by' | 'at' | 'in';
const PLACES = new Map<string, { scene: ScenePlace; prep: Prep; bare: boolean }>();
for (const [scene, list] of Object.entries(PLACE_WORDS) as [ScenePlace, string][]) {
  for (const entry of list.split(' ')) {
    const marks = /[*^@!]*$/.exec(entry)![0];
    const prep: Prep = marks.includes('*') ? 'on' : marks.includes('^') ? 'by' : marks.includes('@') ? 'at' : 'in';
    PLACES.set(entry.slice(0, entry.length - marks.length).replace(/_/g, ' '), {
      scene,
      prep,
      bare: marks.includes('!'),
    });
  }
}
/** The longest place names first, so "north pole" wins over "pole" and "outer space" over "space". */
const PLACE_NAMES = [...PLACES.keys()].sort((a, b) => b.split(' ').length - a.split(' ').length);

/** Verbs that follow "to" in a plot ("wants to fly to Paris"): never taken for a place. */
const VERBS = new Set(
  (
    'be go fly see find get visit make swim sail climb run walk help bring take meet play learn look travel ' +
    'become sing dance explore discover return come ride jump win save give eat sleep build reach catch'
  ).split(' '),
);
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

  // The place: a known place name (the longest that matches), preferring the last one in the plot
  // (where the story ends up); the plot's own preposition ("at the moon") wins over the usual one.
  let place: Plot['place'] | undefined;
  const text = ` ${words.join(' ')} `;
  let at = -1;
  for (const name of PLACE_NAMES) {
    const i = text.lastIndexOf(` ${name} `);
    if (i >= 0 && i + name.length > at) {
      at = i + name.length;
      const known = PLACES.get(name)!;
      const said = / (on|in|at|by) (?:the )?$/.exec(text.slice(0, i + 1))?.[1] as Prep | undefined;
      const the = known.bare ? name : `the ${name}`;
      const prep = name === 'underground' ? '' : `${said ?? known.prep} `;
      place = { word: name, phrase: `${prep}${the}`, the, scene: known.scene };
    }
  }
  // A place the lexicon does not know is used as written when the plot says "to/at/on/in X": after
  // "the" any words ("to the old lighthouse"), else a name ("to Paris", or "to paris" at the end).
  if (!place) {
    const found = [
      ...plot.matchAll(/\b(on|in|at|to|under|inside|into)\s+(?=(the\s+)?([A-Za-z]+(?:\s+[A-Za-z]+){0,2}))/g),
    ]
      .map((m) => {
        const kept: string[] = [];
        for (const w of m[3]!.split(/\s+/)) {
          if (STOP.has(w.toLowerCase()) || ANIMALS[w.toLowerCase()] || (!m[2] && !/^[A-Z]/.test(w) && kept.length))
            break;
          kept.push(w);
        }
        const name = kept.join(' ');
        const head = kept.at(-1)?.toLowerCase();
        if (!head || VERBS.has(kept[0]!.toLowerCase())) return undefined;
        const proper = /^[A-Z]/.test(kept[0]!) && !m[2];
        // Without "the", a lowercase word is a place only when it ends the plot ("to paris").
        const ends = new RegExp(`${name}\\W*$`, 'i').test(plot);
        if (!m[2] && !proper && !ends) return undefined;
        const word = m[2] ? name.toLowerCase() : proper ? name : name.replace(/^./, (c) => c.toUpperCase());
        const the = m[2] ? `the ${word}` : word;
        const said = m[1]!.toLowerCase();
        const prep = said === 'to' || said === 'into' ? (m[2] ? 'at' : 'in') : said;
        return { word, phrase: `${prep} ${the}`, the, scene: 'village' as ScenePlace };
      })
      .filter((p) => p !== undefined);
    place = found.at(-1);
  }
  place ??= { word: 'hills', phrase: 'beyond the blue hills', the: 'the blue hills', scene: 'mountains' };

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
    const inPlace = ` ${place.word.toLowerCase()} `.includes(` ${head} `);
    if (!head || ANIMALS[head] || PLACES.has(head) || inPlace) continue;
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

/** Destinations the illustrator draws as themselves rather than as their scene. */
export type Landmark = 'moon' | 'space' | 'pole' | 'castle' | 'volcano' | 'island' | 'lighthouse';
const LANDMARKS: Record<string, Landmark> = {
  moon: 'moon',
  space: 'space',
  'outer space': 'space',
  stars: 'space',
  planet: 'space',
  mars: 'space',
  'north pole': 'pole',
  'south pole': 'pole',
  pole: 'pole',
  arctic: 'pole',
  antarctic: 'pole',
  antarctica: 'pole',
  iceberg: 'pole',
  castle: 'castle',
  palace: 'castle',
  volcano: 'volcano',
  island: 'island',
  lighthouse: 'lighthouse',
};

/** The landmark a place is drawn as, if the illustrator has one ("north pole" is the pole). */
export const landmarkOf = (word: string): Landmark | undefined => LANDMARKS[word.toLowerCase()];
