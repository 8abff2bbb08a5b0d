/**
 * A small ELIZA in the spirit of Weizenbaum's DOCTOR script (1966): find the most important
 * keyword in what was said, take the text around it, swap first and second person, and fit it
 * into one of the keyword's answer templates, cycling through them so it does not repeat itself.
 * When nothing matches it brings back something said earlier, or asks a neutral question.
 * It runs entirely offline: the answer is computed from the input, not looked up.
 */

interface Rule {
  /** Higher ranks win when several keywords appear. */
  rank: number;
  pattern: RegExp;
  /** `$1` is replaced by the reflected capture. */
  answers: string[];
  /** Worth remembering, to bring up later when the talk runs dry. */
  memorable?: boolean;
}

const REFLECTIONS: Record<string, string> = {
  am: 'are',
  was: 'were',
  i: 'you',
  "i'm": 'you are',
  "i'd": 'you would',
  "i've": 'you have',
  "i'll": 'you will',
  my: 'your',
  are: 'am',
  "you're": 'I am',
  "you've": 'I have',
  "you'll": 'I will',
  your: 'my',
  yours: 'mine',
  you: 'me',
  me: 'you',
  myself: 'yourself',
  yourself: 'myself',
};

const RULES: Rule[] = [
  {
    rank: 10,
    pattern: /\b(?:hello|hi|hey|good (?:morning|afternoon|evening))\b/i,
    answers: ['Hello. How are you feeling today?', 'Hi there. What would you like to talk about?'],
  },
  {
    rank: 9,
    pattern: /\bi (?:feel|am feeling) (.+)/i,
    answers: [
      'Why do you feel $1?',
      'How long have you felt $1?',
      'Do you often feel $1?',
      'When you feel $1, what do you do?',
    ],
    memorable: true,
  },
  {
    rank: 8,
    pattern: /\bi(?:'m| am) (.+)/i,
    answers: [
      'How does being $1 make you feel?',
      'Did you come to me because you are $1?',
      'How long have you been $1?',
      'Do you believe it is normal to be $1?',
    ],
    memorable: true,
  },
  {
    rank: 8,
    pattern: /\bi (?:want|need|would like) (.+)/i,
    answers: ['What would it mean to you if you got $1?', 'Why do you want $1?', 'Suppose you got $1 soon. What then?'],
    memorable: true,
  },
  {
    rank: 7,
    pattern: /\bbecause (.+)/i,
    answers: [
      'Is that the real reason?',
      'What other reasons come to mind?',
      'Does that reason explain anything else?',
    ],
  },
  {
    rank: 7,
    pattern: /\b(?:my )?(mother|father|mom|dad|sister|brother|family|wife|husband|child|children)\b(.*)/i,
    answers: [
      'Tell me more about your family.',
      'How do you get along with your $1?',
      'Who else in your family comes to mind?',
    ],
    memorable: true,
  },
  {
    rank: 6,
    pattern: /\bi (?:can't|cannot) (.+)/i,
    answers: [
      'How do you know you cannot $1?',
      'Perhaps you could $1 if you tried.',
      'What would it take for you to $1?',
    ],
  },
  {
    rank: 6,
    pattern: /\bi think (.+)/i,
    answers: ['Do you really think so?', 'But you are not sure $1?', 'Why do you doubt $1?'],
  },
  {
    rank: 5,
    pattern: /\byou are (.+)/i,
    answers: [
      'What makes you think I am $1?',
      'Does it please you to believe I am $1?',
      'Perhaps you would like to be $1.',
    ],
  },
  {
    rank: 5,
    pattern: /\b(?:sorry|apologi[sz]e)\b/i,
    answers: ['There is no need to apologise.', 'Apologies are not necessary. What were you saying?'],
  },
  {
    rank: 4,
    pattern: /\b(?:yes|yeah|yep)\b/i,
    answers: ['You seem quite sure.', 'I see. Please go on.', 'And how does that make you feel?'],
  },
  {
    rank: 4,
    pattern: /\b(?:no|nope|not really)\b/i,
    answers: ['Why not?', 'You are being a bit negative.', 'Are you saying no just to be negative?'],
  },
  {
    rank: 3,
    pattern: /\b(?:dream|dreamt|dreamed)\b(.*)/i,
    answers: ['What does that dream suggest to you?', 'Do you dream often?', 'Who appears in your dreams?'],
  },
  {
    rank: 3,
    pattern: /\bcomputer|machine|robot|bot\b/i,
    answers: [
      'Do computers worry you?',
      'Why do you mention machines?',
      'What do you think machines have to do with your problem?',
    ],
  },
  {
    rank: 2,
    pattern: /(.+)\?$/,
    answers: [
      'Why do you ask?',
      'What answer would please you most?',
      'What do you think?',
      'Have you asked anyone else?',
    ],
  },
];

const FALLBACKS = [
  'Please tell me more.',
  'I see. Go on.',
  'How does that make you feel?',
  'Can you say more about that?',
  'What does that suggest to you?',
];

/** Swap first and second person: "my job bores me" becomes "your job bores you". */
export function reflect(text: string): string {
  return text
    .toLowerCase()
    .replace(/[.!?,;]+$/g, '')
    .split(/\s+/)
    .map((w) => REFLECTIONS[w] ?? w)
    .join(' ')
    .trim();
}

/** One conversation's therapist: remembers which answers it gave and what was worth remembering. */
export class Eliza {
  readonly #turns = new Map<Rule, number>();
  readonly #memory: string[] = [];
  #fallback = 0;

  respond(input: string): string {
    const text = input.trim();
    if (text.length === 0) return 'You are quiet today.';
    let best: { rule: Rule; match: RegExpMatchArray } | undefined;
    for (const rule of RULES) {
      const match = text.match(rule.pattern);
      if (match && (!best || rule.rank > best.rule.rank)) best = { rule, match };
    }
    if (!best) {
      const remembered = this.#memory.shift();
      if (remembered) return `Earlier you said ${remembered}. Tell me more about that.`;
      return FALLBACKS[this.#fallback++ % FALLBACKS.length]!;
    }
    const { rule, match } = best;
    const turn = this.#turns.get(rule) ?? 0;
    this.#turns.set(rule, turn + 1);
    const fragment = reflect(match[1] ?? '');
    if (rule.memorable && fragment) this.#memory.push(`${reflect(match[0])}`);
    const answer = rule.answers[turn % rule.answers.length]!;
    return answer.replace('$1', fragment || 'that');
  }
}
