import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closeAction, isValidTopic, Operations, scopesAllow, topicMatches, type Operation } from '@inloop/protocol';

const unit = fc.constantFrom(...'abAB01_-.:@=+'.split(''));
const name = fc.string({ unit, minLength: 1, maxLength: 30 });

describe('topic patterns', () => {
  it('match an exact name only itself', () => {
    fc.assert(
      fc.property(name, name, (a, b) => {
        assert.equal(topicMatches(a, b), a === b);
      }),
      { numRuns: 3000 },
    );
  });

  it('match a prefix pattern exactly the longer names that start with the prefix', () => {
    fc.assert(
      fc.property(name, name, (prefix, topic) => {
        assert.equal(topicMatches(prefix + '*', topic), topic.startsWith(prefix) && topic.length > prefix.length);
      }),
      { numRuns: 3000 },
    );
  });

  it('never let a sibling through: room:1 grants nothing on room:1x', () => {
    fc.assert(fc.property(name, name, (base, extra) => assert.equal(topicMatches(base, base + extra), false)));
  });

  it('never match an invalid topic, even with *', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !isValidTopic(s)),
        (bad) => assert.equal(topicMatches('*', bad), false),
      ),
    );
    for (const bad of ['', 'a/b', 'a b', 'ä', 'x'.repeat(201), 'a*', '*a']) assert.equal(isValidTopic(bad), false, bad);
  });

  it('treat malformed patterns as granting nothing', () => {
    for (const pattern of ['room:*:x', '**', '', 'a b*', 'room/1'])
      assert.equal(topicMatches(pattern, 'room:1'), false, pattern);
  });
});

describe('scopes', () => {
  it('never grant an operation that is not listed', () => {
    fc.assert(
      fc.property(
        fc.subarray([...Operations]),
        fc.constantFrom(...Operations),
        name,
        (ops: Operation[], op: Operation, topic) => {
          assert.equal(scopesAllow([{ ops, topics: ['*'] }], op, topic), ops.includes(op));
        },
      ),
    );
  });
});

describe('close codes', () => {
  it('tell the client what to do by range', () => {
    assert.equal(closeAction(4000), 'reconnect');
    assert.equal(closeAction(4001), 'reconnect');
    assert.equal(closeAction(1006), 'reconnect');
    assert.equal(closeAction(4100), 'refresh-and-reconnect');
    assert.equal(closeAction(4401), 'stop');
    assert.equal(closeAction(1009), 'stop');
  });
});
