// Storage benchmark: what fdatasync allows on this machine, and how close FileStorage's group commit
// comes to it. Run alone with `npx tsx bench/storage.ts`; the bench suite calls runStorageBench().
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { asMessageId, asQueue, asSeq } from '../node/ids.ts';
import { FileStorage } from '../storage/file-storage.ts';
import type { QueueLog } from '../storage/storage.ts';

export interface StorageBenchOptions {
  /** Folder to write in; by default a temp folder, removed afterwards. */
  readonly dir?: string;
  /** Seconds each of the three measurements gets, in interleaved one-second slices. Default 5. */
  readonly seconds?: number;
  /** Body bytes per record. Default 1024. */
  readonly recordBytes?: number;
  /** Records per raw batch, and FileStorage appends in flight. Default 256. */
  readonly batch?: number;
}

export interface StorageBenchResult {
  /** Records/s with one write and one fdatasync per record. */
  readonly rawSingle: number;
  /** Records/s with one write and one fdatasync per batch: the limit for group commit. */
  readonly rawBatch: number;
  /** Confirmed one-record appends/s of FileStorage, fsync 'always', `batch` appends in flight. */
  readonly fileStorage: number;
  /** fileStorage / rawBatch. */
  readonly ratio: number;
}

/** One thing measured: `callers` loops call `step` (which says how many records it made durable). */
interface Meter {
  readonly callers: number;
  readonly step: () => Promise<number>;
  records: number;
  ms: number;
}

export async function runStorageBench(opts: StorageBenchOptions = {}): Promise<StorageBenchResult> {
  const seconds = opts.seconds ?? 5;
  const recordBytes = opts.recordBytes ?? 1024;
  const batch = opts.batch ?? 256;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'warren-bench-')));
  const single = await open(join(dir, 'single.raw'), 'w');
  const batched = await open(join(dir, 'batch.raw'), 'w');
  const storage = await FileStorage.open(join(dir, 'storage'), { fsync: 'always' });
  try {
    const log = await storage.openQueue(asQueue('bench'));
    const meters = [
      meter(1, rawSync(single, recordBytes, 1)),
      meter(1, rawSync(batched, recordBytes, batch)),
      meter(batch, appendOne(log, (await log.recover()).nextSeq, recordBytes)),
    ] as const;
    // Interleaved one-second slices, so that all three see the same disk (shared machines drift).
    for (let slice = 0; slice < seconds; slice++) for (const m of meters) await run(m, 1);
    const [rawSingle, rawBatch, fileStorage] = meters.map((m) => (m.records * 1000) / m.ms) as [number, number, number];
    return { rawSingle, rawBatch, fileStorage, ratio: fileStorage / rawBatch };
  } finally {
    await Promise.all([single.close(), batched.close(), storage.close()]);
    if (opts.dir === undefined) await rm(dir, { recursive: true, force: true });
  }
}

function meter(callers: number, step: () => Promise<number>): Meter {
  return { callers, step, records: 0, ms: 0 };
}

/** One write and one fdatasync of `perSync` records at the end of the file. */
function rawSync(handle: FileHandle, recordBytes: number, perSync: number): () => Promise<number> {
  const bytes = Buffer.alloc(recordBytes * perSync, 0x61);
  let position = 0;
  return async () => {
    await handle.write(bytes, 0, bytes.length, position);
    await handle.datasync();
    position += bytes.length;
    return perSync;
  };
}

/** One append of one enqueue record, confirmed under fsync 'always'. */
function appendOne(log: QueueLog, firstSeq: number, recordBytes: number): () => Promise<number> {
  const body = Buffer.alloc(recordBytes, 0x61);
  let seq = firstSeq;
  return async () => {
    const meta = { seq: asSeq(seq), id: asMessageId(`m${seq}`), headers: {}, priority: 0, enqueuedAt: Date.now(), size: body.length };
    seq++;
    await log.append([{ type: 'enqueue', meta, body }]);
    return 1;
  };
}

/** Runs the meter's callers for `seconds`, adding up what they made durable and the time it took. */
async function run(m: Meter, seconds: number): Promise<void> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const caller = async () => {
    let records = 0;
    while (performance.now() < deadline) records += await m.step();
    return records;
  };
  const counts = await Promise.all(Array.from({ length: m.callers }, caller));
  m.records += counts.reduce((a, b) => a + b, 0);
  m.ms += performance.now() - start;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts = { seconds: 5, recordBytes: 1024, batch: 256 };
  const r = await runStorageBench(opts);
  const rate = (n: number) => `${Math.round(n).toLocaleString('en-US').padStart(10)} records/s`;
  console.log(`storage bench: ${opts.recordBytes}-byte records, ${opts.seconds} s per line (interleaved), in ${tmpdir()}`);
  console.log(`  raw fdatasync per record           ${rate(r.rawSingle)}`);
  console.log(`  raw fdatasync per ${opts.batch} records      ${rate(r.rawBatch)}`);
  console.log(`  FileStorage, ${opts.batch} appends in flight  ${rate(r.fileStorage)}   ${r.ratio.toFixed(2)} x raw batch`);
}
