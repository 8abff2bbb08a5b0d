import type { DetailedHTMLProps, HTMLAttributes } from 'react';
import type { LitElement } from 'lit';
import type { InloopConnection } from './connection-status.js';
import type { InloopJobProgress } from './job-progress.js';
import type { InloopJobWait } from './job-wait.js';
import type { InloopPresence } from './presence-stack.js';
import type { InloopReceipt } from './receipt-ticks.js';
import type { InloopSilenceMeter } from './silence-meter.js';
import type { InloopStreamText } from './stream-text.js';
import type { InloopTyping } from './typing-indicator.js';
import type { InloopWaitingGame } from './waiting-game.js';

/**
 * An element as JSX sees it: the usual HTML attributes plus its own properties (React 19 sets
 * a custom element's known properties as properties, so `<inloop-job-progress snapshot={s} />` works).
 */
export type ElementProps<E extends LitElement> = DetailedHTMLProps<HTMLAttributes<E>, E> &
  Partial<Omit<E, keyof LitElement>>;

/**
 * The elements in React's JSX. Types only: `import type {} from '@inloop/elements/react'` once
 * (say in `src/env.d.ts`), and register the components you use as usual.
 */
declare module 'react' {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- React's JSX types live in a namespace
  namespace JSX {
    interface IntrinsicElements {
      'inloop-connection': ElementProps<InloopConnection>;
      'inloop-job-progress': ElementProps<InloopJobProgress>;
      'inloop-job-wait': ElementProps<InloopJobWait>;
      'inloop-presence': ElementProps<InloopPresence>;
      'inloop-receipt': ElementProps<InloopReceipt>;
      'inloop-silence-meter': ElementProps<InloopSilenceMeter>;
      'inloop-stream-text': ElementProps<InloopStreamText>;
      'inloop-typing': ElementProps<InloopTyping>;
      'inloop-waiting-game': ElementProps<InloopWaitingGame>;
    }
  }
}
