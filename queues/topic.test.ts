import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { topicMatches } from './topic.ts';
import { propertyParams } from '../property-tests/params.ts';

describe('topic matching (RabbitMQ rules)', () => {
  const cases: [string, string, boolean][] = [
    ['order.*', 'order.created', true],
    ['order.*', 'order', false],
    ['order.*', 'order.created.eu', false],
    ['order.#', 'order', true],
    ['order.#', 'order.created.eu', true],
    ['#', '', true],
    ['#', 'a.b.c', true],
    ['*', '', false],
    ['*.created', 'order.created', true],
    ['#.created', 'created', true],
    ['#.created', 'eu.order.created', true],
    ['#.created', 'eu.order.created.x', false],
    ['a.#.z', 'a.z', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.z', 'a.b.c', false],
    ['a.*.#', 'a', false],
    ['a.*.#', 'a.b', true],
    ['a.#.#.b', 'a.b', true],
    ['order.created', 'order.created', true],
    ['order.created', 'order.deleted', false],
    ['', '', true],
    ['', 'a', false],
    ['#', '.', true],
    ['*', '.', false],
    ['*.*', '.', true],
  ];
  for (const [pattern, key, expected] of cases) {
    it(`'${pattern}' ${expected ? 'matches' : 'does not match'} '${key}'`, () => assert.equal(topicMatches(pattern, key), expected));
  }

  it('takes steps in proportion to pattern words × key words, however many # (a pattern of them against a long key)', () => {
    // Each '#' tried every split point, so 10 against 60 words did not finish in 2 minutes.
    const pattern = Array.from({ length: 12 }, () => '#.x').join('.') + '.y';
    const key = Array.from({ length: 80 }, () => 'x').join('.');
    assert.equal(topicMatches(pattern, key), false);
    assert.equal(topicMatches(pattern, `${key}.y`), true);
  });

  it('agrees with a brute-force model on random patterns and keys', () => {
    // Empty words too ('a..b'); an empty pattern or key has none (RabbitMQ splits '' into no words).
    const word = fc.constantFrom('a', 'b', 'c', '');
    const split = (s: string) => (s === '' ? [] : s.split('.'));
    fc.assert(
      fc.property(fc.array(fc.oneof(word, fc.constant('*'), fc.constant('#')), { maxLength: 6 }), fc.array(word, { maxLength: 7 }), (p, k) => {
        const pattern = p.join('.');
        const key = k.join('.');
        return topicMatches(pattern, key) === bruteForce(split(pattern), split(key));
      }),
      propertyParams('topic matching', 500),
    );
  });
});

/** Brute force: '#' tries every number of words. */
function bruteForce(p: readonly string[], k: readonly string[]): boolean {
  if (p.length === 0) return k.length === 0;
  const [head, ...rest] = p;
  if (head === '#') return Array.from({ length: k.length + 1 }, (_, n) => n).some((n) => bruteForce(rest, k.slice(n)));
  if (k.length === 0) return false;
  return (head === '*' || head === k[0]) && bruteForce(rest, k.slice(1));
}
