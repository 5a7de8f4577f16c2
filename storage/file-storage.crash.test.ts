// Crash test: a child process appends with fsync 'always' and prints every confirmed seq; it is
// SIGKILLed at a random moment, twice on the same log. Every confirmed seq must then be recovered
// exactly once and in order, and nothing may appear that was never appended. A log left open by a
// killed process says so (its messages may have been delivered unrecorded).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { asSeq } from '../node/ids.ts';
import { FileStorage } from './file-storage.ts';
import { QUEUE, enqueue, fcParams, withTempDir } from './test-support.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./file-storage.crash-child.ts', import.meta.url));
const RECORDS_PER_RUN = 3000;
const CHILD_TIMEOUT_MS = 60_000;

/** Runs the child on `dir` and SIGKILLs it once it has confirmed `killAfter` seqs; returns the seqs it confirmed. */
function runChild(dir: string, killAfter: number): Promise<number[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir, String(RECORDS_PER_RUN)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const confirmed: number[] = [];
  let partial = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) confirmed.push(Number(line));
      if (confirmed.length >= killAfter) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const killed = signal === 'SIGKILL' && confirmed.length >= killAfter;
      if (code === 0 || killed) resolve(confirmed);
      else reject(new Error(`child ended with code ${code}, signal ${signal}: ${stderr}`));
    });
  });
}

describe('FileStorage crash safety', () => {
  it('keeps every confirmed append across SIGKILL, once and in order, and invents nothing', async () => {
    const killAt = fc.integer({ min: 1, max: RECORDS_PER_RUN });
    const run = fc.asyncProperty(killAt, killAt, async (first, second) => {
      await withTempDir(async (dir) => {
        const confirmed = [...(await runChild(dir, first)), ...(await runChild(dir, second))];
        for (let i = 1; i < confirmed.length; i++) assert.ok(confirmed[i - 1]! < confirmed[i]!, 'appends are confirmed in order');

        const storage = await FileStorage.open(dir, { fsync: 'always' });
        const log = await storage.openQueue(QUEUE);
        const recovered = await log.recover();
        const seqs = [...recovered.messages].map((m) => m.seq);
        // Seqs were appended as 1, 2, 3...: what survives is a prefix, holding every confirmed seq.
        assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1));
        assert.ok((confirmed.at(-1) ?? 0) <= seqs.length, `confirmed up to ${confirmed.at(-1)}, recovered ${seqs.length}`);
        for (const m of [...recovered.messages]) {
          const record = enqueue(m.seq);
          assert.ok(record.type === 'enqueue');
          const [stored] = await log.read([asSeq(m.seq)]);
          assert.deepEqual(stored!.meta, record.meta);
          assert.deepEqual(Buffer.from(stored!.body), record.body);
        }
        await storage.close();
      });
    });
    await fc.assert(run, fcParams('confirmed appends survive SIGKILL', 4));
  });

  it('flags what it recovers as possibly delivered after SIGKILL, and not after a clean close', async () => {
    await withTempDir(async (dir) => {
      await runChild(dir, 10);
      const reopen = async () => {
        const storage = await FileStorage.open(dir, { fsync: 'always' });
        const recovered = await (await storage.openQueue(QUEUE)).recover();
        await storage.close();
        return recovered;
      };
      const killed = await reopen();
      assert.ok(killed.nextSeq > 10);
      assert.equal(killed.uncertainBelow, killed.nextSeq, 'a killed process may have delivered any of its messages');
      assert.equal((await reopen()).uncertainBelow, undefined, 'closed cleanly');
    });
  });
});
