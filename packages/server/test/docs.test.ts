import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { configMarkdown, errorsMarkdown } from '../src/docs.js';

const read = (name: string) => readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

it('keeps docs/errors.md and docs/configuration.md in step with the code (run `npm run docs`)', () => {
  assert.equal(read('errors.md'), errorsMarkdown());
  assert.equal(read('configuration.md'), configMarkdown());
});
