// Shared by the storage tests: random logs as a queue writes them, temp folders, and the reference
// recovery (MemoryStorage) to compare the file log against.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { asMessageId, asQueue, asSeq, type Seq } from '../node/ids.ts';
import { propertyParams } from '../property-tests/params.ts';
import { MemoryStorage } from './memory-store.ts';
import { REMOVE_REASONS, type LogRecord, type MessageMeta, type QueueLog, type RecoveredQueue } from './storage.ts';

export const QUEUE = asQueue('orders');

/** The shared property parameters (printed seed, WARREN_SEED/WARREN_RUNS), with the failing assertion in the report. */
export const fcParams = <T>(name: string, defaultRuns: number): fc.Parameters<T> => ({
  ...propertyParams<T>(name, defaultRuns),
  includeErrorInReport: true,
});

/**
 * One append call; `settle` awaits it (and those still in flight) before the next is made. `later`:
 * made a turn later (a write may be under way), and deferrable when it holds settlements only, as a
 * plain queue's settlements are.
 */
export interface Append {
  readonly records: readonly LogRecord[];
  readonly settle: boolean;
  readonly later?: boolean;
}

const time = fc.integer({ min: 0, max: 2 ** 45 });
const enqueueStep = fc.record({
  kind: fc.constant('enqueue' as const),
  gap: fc.integer({ min: 1, max: 3 }),
  id: fc.string({ unit: 'grapheme', maxLength: 10 }),
  headers: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 8 }), { maxKeys: 2, noNullPrototype: true }),
  priority: fc.integer({ min: 0, max: 9 }),
  enqueuedAt: time,
  expiresAt: fc.option(time, { nil: undefined }),
  readyAt: fc.option(time, { nil: undefined }),
  body: fc.uint8Array({ maxLength: 80 }),
});
type EnqueueStep = typeof enqueueStep extends fc.Arbitrary<infer T> ? T : never;
const seqsStep = fc.record({
  kind: fc.constantFrom('delivered' as const, 'remove' as const),
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
  reason: fc.constantFrom(...REMOVE_REASONS),
});
/** A mirror's place in its leader's stream, after the records of a frame. */
const markStep = fc.record({ kind: fc.constant('mark' as const), epoch: fc.nat(5), lsn: fc.nat(1_000) });
const step = fc.record({
  what: fc.oneof({ arbitrary: enqueueStep, weight: 3 }, { arbitrary: seqsStep, weight: 2 }, { arbitrary: markStep, weight: 1 }),
  /** Ends the current append after this record. */
  cut: fc.boolean(),
  settle: fc.boolean(),
  later: fc.boolean(),
});

/**
 * Appends of records as a queue makes them: enqueue seqs increase (with gaps); delivered and remove
 * records name seqs that are live, were removed, or were never enqueued; marks (a mirror writes them) fall anywhere.
 */
export const appendsArbitrary = (maxRecords: number): fc.Arbitrary<Append[]> =>
  fc.array(step, { maxLength: maxRecords }).map((steps) => {
    const appends: Append[] = [];
    let records: LogRecord[] = [];
    let seq = 0;
    for (const { what, cut, settle, later } of steps) {
      if (what.kind === 'enqueue') {
        seq += what.gap;
        records.push(randomEnqueue(seq, what));
      } else if (what.kind === 'mark') {
        records.push({ type: 'mark', epoch: what.epoch, lsn: what.lsn });
      } else {
        const seqs = what.picks.map((p) => asSeq(p % (seq + 3)));
        records.push(what.kind === 'remove' ? { type: 'remove', seqs, reason: what.reason } : { type: 'delivered', seqs });
      }
      if (cut) {
        appends.push({ records, settle, later });
        records = [];
      }
    }
    if (records.length > 0) appends.push({ records, settle: true });
    return appends;
  });

function randomEnqueue(seq: number, e: EnqueueStep): LogRecord {
  const meta: MessageMeta = {
    seq: asSeq(seq),
    id: asMessageId(e.id),
    headers: e.headers,
    priority: e.priority,
    enqueuedAt: e.enqueuedAt,
    size: e.body.length,
    ...(e.expiresAt === undefined ? {} : { expiresAt: e.expiresAt }),
    ...(e.readyAt === undefined ? {} : { readyAt: e.readyAt }),
  };
  return { type: 'enqueue', meta, body: e.body };
}

/** A plain enqueue record: id `m<seq>`, no headers. */
export const enqueue = (seq: number, body = `body ${seq}`): LogRecord => ({
  type: 'enqueue',
  meta: { seq: asSeq(seq), id: asMessageId(`m${seq}`), headers: {}, priority: 0, enqueuedAt: 1_700_000_000_000, size: Buffer.byteLength(body) },
  body: Buffer.from(body),
});

/** Makes the appends in order, letting those not settled run concurrently (and share groups). */
export async function appendAll(log: QueueLog, appends: readonly Append[]): Promise<void> {
  let inFlight: Promise<void>[] = [];
  for (const a of appends) {
    if (a.later) await new Promise((r) => setImmediate(r));
    inFlight.push(log.append(a.records, { deferrable: a.later === true && a.records.every((r) => r.type !== 'enqueue') }));
    if (a.settle) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
}

/** What MemoryStorage, the reference, recovers from the same records. */
export async function memoryRecovery(records: readonly LogRecord[]): Promise<RecoveredQueue> {
  const log = await new MemoryStorage().openQueue(QUEUE);
  await log.append(records);
  return log.recover();
}

export function bodiesBySeq(records: readonly LogRecord[]): Map<Seq, Uint8Array> {
  const bodies = new Map<Seq, Uint8Array>();
  for (const r of records) if (r.type === 'enqueue') bodies.set(r.meta.seq, r.body);
  return bodies;
}

/** Runs `body` with a fresh temp folder, removed afterwards. */
export async function withTempDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-storage-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
