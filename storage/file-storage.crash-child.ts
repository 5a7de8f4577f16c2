// The child of file-storage.crash.test.ts: recovers the log in the folder it is given, then appends
// enqueue records (fsync 'always') in batches, with several appends in flight, and prints each seq
// as soon as its append has resolved. The parent kills it at a moment of its choosing.
// Usage: node --import tsx storage/file-storage.crash-child.ts <dir> <records>
import { FileStorage } from './file-storage.ts';
import { QUEUE, enqueue } from './test-support.ts';

const IN_FLIGHT = 8;
const MAX_BATCH = 24;

const [dir, count] = process.argv.slice(2);
if (dir === undefined || count === undefined) throw new Error('usage: file-storage.crash-child.ts <dir> <records>');
const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes: 16 * 1024 });
const log = await storage.openQueue(QUEUE);
let seq: number = (await log.recover()).nextSeq;
const end = seq + Number(count);

async function appender(): Promise<void> {
  while (seq < end) {
    const seqs: number[] = [];
    const size = 1 + (seq % MAX_BATCH);
    while (seqs.length < size && seq < end) seqs.push(seq++);
    await log.append(seqs.map((s) => enqueue(s)));
    // Pipes are written synchronously on Linux: a printed seq has left the process before the next step.
    process.stdout.write(seqs.map((s) => `${s}\n`).join(''));
  }
}

await Promise.all(Array.from({ length: IN_FLIGHT }, appender));
await storage.close();
