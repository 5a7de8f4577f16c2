import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asSeq, type Seq } from '../node/ids.ts';
import { LiveIndex, type Location } from './live-index.ts';
import { fcParams } from './test-support.ts';

describe('LiveIndex', () => {
  it('answers as a Map would, through growth, removal in any order and rebuilds', () => {
    const op = fc.oneof(
      fc.record({ add: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 700 }) }),
      fc.record({ remove: fc.nat(), n: fc.integer({ min: 1, max: 700 }), stride: fc.integer({ min: 1, max: 7 }) }),
    );
    const run = fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
      const index = new LiveIndex();
      const model = new Map<Seq, Location>();
      let seq = 0;
      for (const o of ops) {
        if ('add' in o) {
          for (let i = 0; i < o.n; i++) {
            seq += o.add;
            const at = { segment: seq % 13, offset: seq * 3, length: 1 + (seq % 100) };
            index.add(asSeq(seq), at);
            model.set(asSeq(seq), at);
          }
        } else {
          for (let i = 0, s = o.remove % (seq + 2); i < o.n && s <= seq + 1; i++, s += o.stride) {
            const removed = index.remove(asSeq(s));
            assert.equal(removed, model.get(asSeq(s))?.segment);
            model.delete(asSeq(s));
          }
        }
      }
      for (let s = 0; s <= seq + 1; s++) {
        assert.deepEqual(index.locate(asSeq(s)), model.get(asSeq(s)));
        assert.equal(index.segmentOf(asSeq(s)), model.get(asSeq(s))?.segment);
      }
    });
    fc.assert(run, fcParams('live index matches a Map', 100));
  });
});
