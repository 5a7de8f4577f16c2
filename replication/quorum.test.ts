import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { propertyParams } from '../property-tests/params.ts';
import { asNodeId, type NodeId } from '../node/ids.ts';
import { answersNeeded, covered, held, mayTakeOver, quorum, type Position } from './quorum.ts';

const L = asNodeId('L');
const mirrors = ['a', 'b', 'c', 'd'].map(asNodeId);

test('a quorum is a majority of the in-sync replicas, never fewer than minInSync', () => {
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => quorum(n, 2)), [2, 2, 2, 3, 3]);
  assert.deepEqual([1, 2, 3].map((n) => quorum(n, 1)), [1, 2, 2]);
  // Of three in sync, the candidate and one other mirror answer; of two, the candidate alone.
  assert.deepEqual([answersNeeded(3, 2), answersNeeded(2, 2), answersNeeded(1, 2)], [1, 0, 0]);
});

type Step =
  /** An enqueue (a new seq) or another record (an ack, a dead-lettering). */
  | { readonly type: 'append'; readonly enqueue: boolean }
  | { readonly type: 'ack'; readonly mirror: number; readonly by: number }
  | { readonly type: 'leave'; readonly mirror: number }
  | { readonly type: 'join'; readonly mirror: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('append' as const), enqueue: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('ack' as const), mirror: fc.nat({ max: 3 }), by: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('leave' as const), mirror: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('join' as const), mirror: fc.nat({ max: 3 }) }) },
);

// The leader's side as Leadership runs it (confirm on a quorum, leave only when covered, join when
// caught up), mirrors acknowledging prefixes of the stream at their own pace; then the leader is lost.
// Whichever candidate the election lets through, with whichever answers it gets, holds every
// confirmed append; where some of the mirrors restarted (they know their seq, not their place in the
// stream), every confirmed enqueue.
test('a candidate that may take over holds every confirmed append, or every confirmed enqueue where a mirror restarted', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 200 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (count, min, steps, answering, restarted) => {
      const ms = mirrors.slice(0, count);
      const minInSync = Math.min(min, count + 1);
      let inSync: NodeId[] = [L, ...ms];
      const acked = new Map<NodeId, number>(ms.map((m) => [m, 0]));
      let lsn = 0;
      let committed = 0;
      /** The highest seq at each lsn. */
      const seqAt = [0];
      const holds = (at: number) => (n: NodeId) => n === L || (acked.get(n) ?? 0) >= at;
      for (const s of steps) {
        if (s.type === 'append') seqAt[++lsn] = seqAt[lsn - 1]! + (s.enqueue ? 1 : 0);
        const m = ms[s.type === 'append' ? 0 : s.mirror % count]!;
        if (s.type === 'ack') acked.set(m, Math.min(lsn, acked.get(m)! + s.by));
        if (s.type === 'leave' && inSync.includes(m)) {
          const rest = inSync.filter((n) => n !== m);
          if (covered(rest, minInSync, holds(committed))) {
            inSync = rest;
            // Its copy starts over from nothing once it is out.
            acked.set(m, 0);
          }
        }
        if (s.type === 'join' && !inSync.includes(m) && acked.get(m) === lsn) inSync = [...inSync, m];
        while (committed < lsn && held(inSync, minInSync, holds(committed + 1))) committed++;
      }
      const position = (n: NodeId): Position => {
        const at = acked.get(n)!;
        return { seq: seqAt[at]!, ...(restarted[ms.indexOf(n)] ? {} : { stream: { epoch: 1, lsn: at } }) };
      };
      for (const candidate of ms) {
        const asked = ms.filter((n, i) => n !== candidate && answering[i]);
        if (!mayTakeOver(candidate, L, inSync, minInSync, position(candidate), new Map(asked.map((n) => [n, position(n)])))) continue;
        const holds = acked.get(candidate)!;
        const what = `${candidate} holds ${holds} of ${committed} confirmed (inSync ${inSync.join(',')}, minInSync ${minInSync})`;
        if ([candidate, ...asked].every((n) => !restarted[ms.indexOf(n)])) assert.ok(holds >= committed, what);
        else assert.ok(seqAt[holds]! >= seqAt[committed]!, `${what}: seq ${seqAt[holds]} of ${seqAt[committed]}`);
      }
    }),
    propertyParams('quorum takeover', 2_000),
  );
});
