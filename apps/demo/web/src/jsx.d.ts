import type { DetailedHTMLProps, HTMLAttributes } from 'react';

/** The demo's custom elements, as React sees them (properties are set through refs). */
type Custom = DetailedHTMLProps<HTMLAttributes<HTMLElement>, HTMLElement>;

declare module 'react' {
  namespace JSX {
    interface IntrinsicElements {
      'inloop-job-progress': Custom;
      'inloop-presence': Custom;
      'inloop-typing': Custom;
      'inloop-receipt': Custom;
    }
  }
}
