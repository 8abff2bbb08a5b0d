import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePlot } from '../server/story-plot.js';
import { outline, writeStory, type StoryRequest } from '../server/story.js';

const book = (plot: string, more: Partial<StoryRequest> = {}) =>
  writeStory({ hero: 'Pip', animal: 'fox', plot, pages: 16, ...more });
const text = (b: ReturnType<typeof writeStory>) => b.pages.map((p) => p.text).join(' ');

describe('the story writer', () => {
  describe('reading the plot', () => {
    it('finds the animal, the place and the thing in the example plot', () => {
      const plot = parsePlot('an owl who loses her glasses and finds them on the moon', 'fox');
      assert.equal(plot.animal, 'owl');
      assert.equal(plot.place.word, 'moon');
      assert.equal(plot.place.phrase, 'on the moon');
      assert.equal(plot.place.scene, 'sky');
      assert.equal(plot.object.noun, 'glasses');
      assert.equal(plot.object.phrase, 'her glasses');
      assert.equal(plot.object.plural, true);
      assert.equal(plot.kind, 'lost');
    });

    it('keeps the form animal when the plot names none, and reads young and plural animal words', () => {
      assert.equal(parsePlot('finds a treasure map on the beach', 'bear').animal, 'bear');
      assert.equal(parsePlot('three mice who sail to an island', 'fox').animal, 'mouse');
      assert.equal(parsePlot('a puppy who digs up a bone in the garden', 'fox').animal, 'dog');
    });

    it('takes a place it does not know when it sits after "to the"', () => {
      const plot = parsePlot('a cat who takes a kite to the lighthouse', 'fox');
      assert.equal(plot.place.word, 'lighthouse');
      assert.equal(plot.object.noun, 'kite');
    });
  });

  describe('writing the book', () => {
    it('writes about the plot animal, its thing and its place, at every length', () => {
      for (const pages of [2, 3, 6, 9, 12, 16]) {
        const b = book('an owl who loses her glasses and finds them on the moon', { pages });
        assert.equal(b.pages.length, pages);
        assert.equal(b.animal, 'owl');
        const all = text(b);
        assert.match(all, /\bowl\b/, `${pages} pages: ${all}`);
        assert.match(all, /\bglasses\b/, `${pages} pages: ${all}`);
        assert.match(all, /\bon the moon\b/, `${pages} pages: ${all}`);
        assert.doesNotMatch(all, /\bfox\b/);
        assert.doesNotMatch(all, /\{\w+\}/, 'no slot left unfilled');
      }
    });

    it('draws the destination where the hero arrives', () => {
      const b = book('an owl who loses her glasses and finds them on the moon');
      const found = b.pages.find((p) => /there were her glasses|were her glasses/.test(p.text));
      assert.ok(found, text(b));
      assert.equal(found.scene.place, 'sky');
    });

    it('writes the same book for the same request and seed', () => {
      const plot = 'a dragon who wants to see the sea';
      assert.deepEqual(book(plot), book(plot));
      assert.deepEqual(book(plot, { seed: 'a' }), book(plot, { seed: 'a' }));
      assert.notEqual(text(book(plot, { seed: 'a' })), text(book(plot, { seed: 'b' })));
    });

    it('writes a different book for a different plot', () => {
      const a = book('an owl who loses her glasses and finds them on the moon');
      const b = book('a rabbit who finds a golden key in a cave');
      assert.notEqual(text(a), text(b));
      assert.match(text(b), /\brabbit\b/);
      assert.match(text(b), /\bgolden key\b/);
      assert.match(text(b), /\bin the cave\b/);
      assert.notEqual(outline({ hero: 'Pip', animal: 'fox', plot: 'x', pages: 3 }).title, a.title);
    });

    it('never repeats a page in a long book', () => {
      const b = book('goes to school');
      assert.equal(new Set(b.pages.map((p) => p.text)).size, b.pages.length);
    });
  });
});
