import { InloopStreamText } from '../../src/stream-text.js';

// The test drives the element through `window.streamText` and watches its live region.
const el = document.querySelector('inloop-stream-text')!;
const announcements: string[] = [];
await el.updateComplete;
new MutationObserver(() => {
  const text = el.shadowRoot!.querySelector('.announcer')!.textContent ?? '';
  if (text) announcements.push(text);
}).observe(el.shadowRoot!.querySelector('.announcer')!, { childList: true, characterData: true, subtree: true });
Object.assign(window, { streamText: el, announcements, InloopStreamText, ready: true });
