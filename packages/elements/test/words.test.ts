import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineInWords } from '../src/words.js';

describe('a place in line, in words', () => {
  it('says it in full, or short for the one-line header of a phone', () => {
    assert.equal(lineInWords(1, 120_000), 'next in line, starts in about 2 min');
    assert.equal(lineInWords(1, 120_000, true), 'next in line · 2 min');
    assert.equal(lineInWords(3, 20_000, true), '3rd in line · 20 s');
    assert.equal(lineInWords(1, 2000, true), 'next in line · soon');
    assert.equal(lineInWords(2, null, true), '2nd in line');
    assert.equal(lineInWords(1, 70_000, true), 'next in line · a minute');
  });
});
