// The Replayer against a plain model of what records mean (a map of live messages), on random runs of
// records: plain and other messages, deliveries, releases and removals, in long runs too, where its
// memory must follow the backlog, not every seq ever used.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { asMessageId, asSeq, type Seq } from '../node/ids.ts';
import { Replayer } from './replay.ts';
import type { LogRecord, RecoveredMessage } from './storage.ts';
import { fcParams } from './test-support.ts';

type Step =
  | { readonly op: 'enqueue'; readonly priority: number; readonly delayed: boolean }
  | { readonly op: 'delivered' | 'released' | 'remove'; readonly pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('enqueue' as const), priority: fc.constantFrom(0, 0, 0, 3), delayed: fc.boolean() }),
  fc.record({ op: fc.constantFrom('delivered' as const, 'released' as const, 'remove' as const), pick: fc.nat() }),
);

/** Plays `steps`, checking the live set after each; returns the replayer. */
function play(steps: readonly Step[], check: boolean): Replayer {
  const r = new Replayer();
  const model = new Map<Seq, RecoveredMessage>();
  let next = 1;
  const apply = (record: LogRecord) => r.apply(record);
  for (const s of steps) {
    if (s.op === 'enqueue') {
      const seq = asSeq(next++);
      apply({ type: 'enqueue', meta: { seq, id: asMessageId(`m${seq}`), headers: {}, priority: s.priority, enqueuedAt: 1, size: 0, ...(s.delayed ? { readyAt: 5 } : {}) }, body: new Uint8Array(0) });
      model.set(seq, { seq, priority: s.priority, deliveryCount: 0, ...(s.delayed ? { readyAt: 5 } : {}) });
    } else {
      const live = [...model.keys()];
      if (live.length === 0) continue;
      const seq = live[s.pick % live.length]!;
      apply({ type: s.op, seqs: [seq], ...(s.op === 'remove' ? { reason: 'ack' as const } : {}) } as LogRecord);
      const m = model.get(seq)!;
      if (s.op === 'remove') model.delete(seq);
      else model.set(seq, { ...m, deliveryCount: Math.max(0, m.deliveryCount + (s.op === 'delivered' ? 1 : -1)) });
    }
    if (check) assert.deepEqual([...r.result({ droppedRecords: 0, droppedBytes: 0, problems: [] }).messages], [...model.values()].sort((a, b) => a.seq - b.seq));
  }
  return r;
}

describe('Replayer', () => {
  it('tells the live messages as a model of the records does, in seq order', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 60 }), (steps) => { play(steps, true); }), fcParams('replayer model', 300));
  });

  it('keeps memory for the backlog of plain messages, not for every seq ever used', () => {
    // 300,000 messages through a queue that holds at most 100 at a time, one of them delivered and left unacked throughout.
    const steps: Step[] = [{ op: 'enqueue', priority: 0, delayed: false }, { op: 'delivered', pick: 0 }];
    for (let i = 0; i < 3_000; i++) {
      for (let k = 0; k < 100; k++) steps.push({ op: 'enqueue', priority: 0, delayed: false });
      for (let k = 0; k < 100; k++) steps.push({ op: 'remove', pick: 1 });
    }
    const r = play(steps, false);
    const live = [...r.result({ droppedRecords: 0, droppedBytes: 0, problems: [] }).messages];
    assert.deepEqual(live.map((m) => [m.seq, m.deliveryCount]), [[1, 1]]);
    assert.ok(r.plainBytes <= 4096, `${r.plainBytes} bytes for plain messages`);
  });
});
