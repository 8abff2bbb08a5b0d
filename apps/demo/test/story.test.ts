import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANIMALS as GAME } from '../../../packages/elements/src/animals.js';
import { coverGrid, drawingOf, pageSvg } from '../server/illustrate.js';
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

    it("reads a place of several words, and keeps the plot's own preposition", () => {
      const plot = parsePlot('a penguin who loses his scarf and finds it at the north pole', 'fox');
      assert.equal(plot.animal, 'penguin');
      assert.equal(plot.place.word, 'north pole');
      assert.equal(plot.place.phrase, 'at the north pole');
      assert.equal(plot.object.noun, 'scarf');
      assert.equal(
        parsePlot('a bear who climbs to the top of the mountain', 'fox').place.the,
        'the top of the mountain',
      );
      assert.equal(parsePlot('a frog who goes into outer space', 'fox').place.phrase, 'in outer space');
    });

    it('uses a place it does not know as written after "to X", and never a verb', () => {
      for (const plot of ['a penguin who wants to fly to Paris', 'a penguin who wants to fly to paris']) {
        const p = parsePlot(plot, 'fox');
        assert.equal(p.place.word, 'Paris', plot);
        assert.equal(p.place.phrase, 'in Paris', plot);
        assert.equal(p.place.the, 'Paris', plot);
      }
      assert.equal(parsePlot('a dog who goes to New York with his ball', 'fox').place.word, 'New York');
      assert.equal(parsePlot('a dog who goes to New York with his ball', 'fox').object.noun, 'ball');
      assert.equal(parsePlot('a fox who wants to fly', 'fox').place.word, 'hills', 'fly is not a place');
    });
  });

  describe('the pictures', () => {
    const scene = { place: 'forest', time: 'day', weather: 'clear', mood: 'calm' } as const;
    it('draws the animal asked for, and a neutral character (never another animal) for one it has no drawing of', () => {
      const fox = pageSvg(scene, 'fox', 1);
      for (const animal of [
        'penguin',
        'cat',
        'dog',
        'bear',
        'mouse',
        'frog',
        'lion',
        'elephant',
        'bird',
        'fish',
        'pig',
        'duck',
      ]) {
        const svg = pageSvg(scene, animal, 1);
        assert.match(svg, new RegExp(`data-hero="${animal}"`), animal);
        assert.notEqual(svg, fox, `${animal} is not drawn as the fox`);
      }
      assert.equal(drawingOf('giraffe').name, 'someone');
      assert.match(pageSvg(scene, 'giraffe', 1), /data-hero="someone"/);
      assert.notEqual(pageSvg(scene, 'giraffe', 1), fox);
    });

    it('draws a penguin book with a penguin and the pole, not a fox', () => {
      const b = book('a penguin who loses his scarf and finds it at the north pole', { pages: 6 });
      assert.equal(b.animal, 'penguin');
      assert.match(text(b), /\bat the north pole\b/);
      assert.doesNotMatch(text(b), /\bthe pole\b/);
      const there = b.pages.filter((p) => p.scene.landmark === 'pole');
      assert.ok(there.length > 0, 'the pages at the pole show the pole');
      for (const p of b.pages) assert.match(pageSvg(p.scene, b.animal, p.number), /data-hero="penguin"/);
    });

    it('has a picture for every animal of the waiting game, and the game has the common ones', () => {
      for (const { name } of GAME) assert.notEqual(drawingOf(name).name, 'someone', `${name} is drawn in the book`);
      const names = GAME.map((a) => a.name.toLowerCase());
      for (const animal of ['penguin', 'cat', 'dog', 'bear', 'mouse', 'frog', 'lion', 'elephant', 'fish'])
        assert.ok(names.includes(animal), `the game has the ${animal}`);
    });

    it('lays out the cover with no empty cell where the page count allows', () => {
      assert.deepEqual(coverGrid(3), { cols: 3, rows: 1 });
      assert.deepEqual(coverGrid(4), { cols: 2, rows: 2 });
      assert.deepEqual(coverGrid(6), { cols: 3, rows: 2 });
      assert.deepEqual(coverGrid(8), { cols: 4, rows: 2 });
      assert.deepEqual(coverGrid(1), { cols: 1, rows: 1 });
    });

    it("shows the moon on the owl book's moon pages", () => {
      const b = book('an owl who loses her glasses and finds them on the moon', { pages: 6 });
      const moon = b.pages.filter((p) => /\bmoon\b/.test(p.text));
      assert.ok(moon.length > 0);
      for (const p of moon) assert.match(pageSvg(p.scene, b.animal, 1), /data-landmark="moon"/, p.text);
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
