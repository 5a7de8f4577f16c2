import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { propertyParams } from '../property-tests/params.ts';
import { asMessageId, asSeq, type MessageId } from '../node/ids.ts';
import { DedupWindow } from './dedup-window.ts';

type Op =
  | { readonly type: 'remember'; readonly id: string; readonly dt: number }
  | { readonly type: 'get'; readonly id: string }
  | { readonly type: 'evict'; readonly dt: number };

// Few distinct ids, so that they repeat; some long and some not ASCII, so that the id buffer wraps and grows.
const id = fc.oneof(
  fc.integer({ min: 0, max: 3_000 }).map((n) => `m-${n}`),
  fc.constantFrom('', 'é', '日本語の識別子', 'x'.repeat(300)),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('remember' as const), id, dt: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('get' as const), id }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('evict' as const), dt: fc.integer({ min: 0, max: 50 }) }) },
);

test('the dedup window answers as a list of (id, seq, at) would: newest seq per id, the last `count`, none older than `ms`', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2_500 }), fc.integer({ min: 1, max: 2_000 }), fc.array(op, { maxLength: 6_000, size: 'max' }), (count, ms, ops) => {
      const window = new DedupWindow(count, ms);
      const model: { id: string; seq: number; at: number }[] = [];
      let now = 0;
      let seq = 0;
      const newest = (id: string): number | undefined => {
        for (let i = model.length - 1; i >= 0; i--) if (model[i]!.id === id) return model[i]!.seq;
        return undefined;
      };
      const evict = () => {
        window.evict(now);
        while (model.length > 0 && (model.length > count || now - model[0]!.at >= ms)) model.shift();
      };
      for (const o of ops) {
        if (o.type === 'remember') {
          now += o.dt;
          window.remember(asMessageId(o.id), asSeq(++seq), now);
          model.push({ id: o.id, seq, at: now });
          evict();
        } else if (o.type === 'evict') {
          now += o.dt;
          evict();
        } else {
          assert.equal(window.get(o.id as MessageId), newest(o.id), `get('${o.id}')`);
        }
      }
      for (const e of model) assert.equal(window.get(e.id as MessageId), newest(e.id));
    }),
    propertyParams('dedup window = list model', 60),
  );
});
