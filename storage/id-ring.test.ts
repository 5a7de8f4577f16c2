import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdRing } from './id-ring.ts';

test('entries come back oldest first, whole, after the ring and its byte buffer have grown and moved', () => {
  const ring = new IdRing();
  const model: { id: string; seq: number; at: number }[] = [];
  const ids = ['a-uuid-like-0000-0000', 'é', '', '日本語', 'x'.repeat(256), '\u00ff\u0100'];
  for (let n = 0; n < 20_000; n++) {
    const entry = { id: `${ids[n % ids.length]}:${n}`, seq: n + 1, at: n * 2 };
    ring.push(entry.id, entry.seq, entry.at);
    model.push(entry);
    // A window of 3,000 that sometimes shrinks by a run: the live bytes move to the front of their buffer.
    while (model.length > (n % 7_000 < 100 ? 1_000 : 3_000)) {
      ring.shift();
      model.shift();
    }
  }
  assert.equal(ring.size, model.length);
  assert.deepEqual([...ring.entries()], model);
  const slots = [...ring.slots()];
  model.forEach((e, i) => assert.ok(ring.idEquals(slots[i]!, e.id), e.id));
});
