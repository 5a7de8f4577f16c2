// The in-memory inbox through a real node: every fault of testing.ts, and the same faults without
// exactlyOnce, which repeat effects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { memoryNode } from '../node/testing.ts';
import { propertyParams } from '../property-tests/params.ts';
import { memoryStore } from './memory-inbox.ts';
import { FAULTS, REPEATING, runFaults, Tally, withExactlyOnce, withoutExactlyOnce, type Fault } from './testing.ts';

const faults = fc.array(fc.constantFrom(...FAULTS), { minLength: 1, maxLength: 10 });

describe('exactlyOnce with the memory inbox', () => {
  it('applies each effect once across redeliveries; without exactlyOnce the same faults repeat effects', async () => {
    const tally = new Tally();
    const plain = new Tally();
    const params = propertyParams<[Fault[]]>('exactlyOnce memory inbox', 15);
    try {
      await fc.assert(fc.asyncProperty(faults, async (schedule) => {
        const node = await memoryNode();
        try {
          const inbox = memoryStore<string>();
          await runFaults(node, 'with', schedule, withExactlyOnce(inbox, async (m, tx) => { tx.push(m.text()); }, tally), tally);
          assert.deepEqual([...inbox.committed].sort(), schedule.map((_, i) => String(i)).sort(), 'each effect exactly once');
          tally.count(inbox.committed);

          const applied: string[] = [];
          await runFaults(node, 'without', schedule, withoutExactlyOnce(async (m) => { applied.push(m.text()); }), plain);
          plain.count(applied);
          assert.equal(applied.length - new Set(applied).size, schedule.filter((f) => REPEATING.has(f)).length, 'without it, every fault after the effect repeats it');
        } finally {
          await node.stop();
        }
      }), { ...params, includeErrorInReport: true, examples: [[['cancel-after-commit', 'throw-after-commit', 'nack-after-commit', 'throw-after-effect', 'throw-before-effect', 'none']]] });
    } finally {
      console.log(tally.line('memory inbox', params.seed!));
      console.log(plain.line('memory, without exactlyOnce', params.seed!));
    }
    assert.equal(tally.duplicateEffects, 0);
    assert.ok(plain.duplicateEffects > 0, 'the mechanism matters');
  });
});
