import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMap } from './recent-map.ts';

describe('RecentMap', () => {
  it('keeps the last N keys set, oldest out first; a key set again takes the new value and keeps its place', () => {
    const m = new RecentMap<number, string>(3);
    for (const k of [1, 2, 3]) m.set(k, `v${k}`);
    m.set(1, 'again');
    assert.equal(m.get(1), 'again');
    m.set(4, 'v4');
    assert.deepEqual([1, 2, 3, 4].map((k) => m.get(k)), [undefined, 'v2', 'v3', 'v4'], '1 was the oldest, set again or not');
    for (let k = 5; k < 1000; k++) m.set(k, `v${k}`);
    assert.deepEqual([996, 997, 998, 999].map((k) => m.get(k)), [undefined, 'v997', 'v998', 'v999']);
  });
});
