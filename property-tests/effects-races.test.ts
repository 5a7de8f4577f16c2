// Races of exactly-once deliveries inside one process: several deliveries of the same messages, stale
// ones and repeated counts included, whose starts, effects and settlements fast-check's scheduler
// interleaves, against the memory inbox (so LocalInbox's fence and turns, which the file inbox shares).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { InboxOutcome } from '../effects/inbox-store.ts';
import { memoryStore } from '../effects/memory-inbox.ts';
import { propertyParams } from './params.ts';

interface Delivery {
  readonly id: string;
  readonly deliveryCount: number;
  /** Its effect throws after writing into the transaction: nothing may be committed or recorded. */
  readonly fails: boolean;
}

const deliveries = fc.array(
  fc.record({ id: fc.constantFrom('a', 'b'), deliveryCount: fc.integer({ min: 1, max: 4 }), fails: fc.boolean() }),
  { minLength: 1, maxLength: 8 },
);

type Result = InboxOutcome | 'failed';

describe('exactlyOnce races in one process (memory inbox)', () => {
  it('one effect per message, committed with its record, never by a delivery older than one started', async () => {
    const totals: Record<Result, number> & { schedules: number; deliveries: number } = { schedules: 0, deliveries: 0, applied: 0, duplicate: 0, fenced: 0, failed: 0 };
    const params = propertyParams<[fc.Scheduler, Delivery[]]>('exactlyOnce races', 200);
    try {
      await fc.assert(fc.asyncProperty(fc.scheduler(), deliveries, async (s, plan) => {
        const inbox = memoryStore<string>();
        /** Per message, the highest delivery count whose run has been called: LocalInbox's fence. */
        const newest = new Map<string, number>();
        const staleEffects: string[] = [];
        const names = plan.map((d, i) => `${d.id}#${i} (count ${d.deliveryCount})`);
        const settled = plan.map((d, i) => s.schedule(Promise.resolve(), `start ${names[i]}`).then(() => {
          newest.set(d.id, Math.max(newest.get(d.id) ?? 0, d.deliveryCount));
          const outcome = inbox.run({ queue: 'q', id: d.id, deliveryCount: d.deliveryCount }, async (tx) => {
            if (newest.get(d.id)! > d.deliveryCount) staleEffects.push(names[i]!);
            await s.schedule(Promise.resolve(), `effect of ${names[i]}`);
            tx.push(names[i]!);
            if (d.fails) throw new Error(`effect of ${names[i]} fails`);
          });
          // Scheduled once settled: a scheduled task that waited on other scheduled tasks would deadlock.
          return outcome.catch((): Result => 'failed').then((r) => s.schedule(Promise.resolve(r), `settle ${names[i]}`));
        }));
        const results: Result[] = await s.waitFor(Promise.all(settled));

        totals.schedules++;
        totals.deliveries += plan.length;
        for (const r of results) totals[r]++;
        assert.deepEqual(staleEffects, [], 'no effect begins once a newer delivery has started');
        const applied = names.filter((_, i) => results[i] === 'applied');
        assert.deepEqual([...inbox.committed].sort(), [...applied].sort(), 'the committed effects are exactly the applied deliveries');
        for (const id of new Set(plan.map((d) => d.id))) {
          const mine = plan.flatMap((d, i) => (d.id === id ? [{ ...d, result: results[i]! }] : []));
          const appliedHere = mine.filter((d) => d.result === 'applied').length;
          assert.ok(appliedHere <= 1, `at most one 'applied' for ${id}`);
          if (mine.some((d) => d.result === 'duplicate')) assert.equal(appliedHere, 1, `a duplicate of ${id} follows its application`);
          const top = Math.max(...mine.map((d) => d.deliveryCount));
          if (mine.some((d) => d.deliveryCount === top && !d.fails)) assert.equal(appliedHere, 1, `the newest delivery of ${id} leaves it applied`);
          // The store's own record agrees with the committed effects: recorded iff applied.
          const probe = await inbox.run({ queue: 'q', id, deliveryCount: top + 1 }, async () => {});
          assert.equal(probe, appliedHere === 1 ? 'duplicate' : 'applied', `${id} recorded iff its effect was committed`);
        }
      }), params);
    } finally {
      console.log(`report effects races: schedules=${totals.schedules} deliveries=${totals.deliveries} applied=${totals.applied} ` +
        `duplicate=${totals.duplicate} fenced=${totals.fenced} failed effects=${totals.failed} seed=${params.seed}`);
    }
  });
});
