import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Warren, type Message } from '../index.ts';
import { until } from './testing.ts';

async function segments(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((e) => e.endsWith('.seg')).map((e) => path.join(dir, e)).sort();
}

describe('a node whose log files were damaged while it was stopped', () => {
  it('starts, reports what it dropped, and keeps every intact message in order', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'warren-damage-'));
    try {
      const a = await Warren.start({ dataDir: dir });
      await a.declareQueue('q');
      const bodies = Array.from({ length: 30 }, (_, i) => `message ${i} `.padEnd(200, '.'));
      for (const b of bodies) await a.publish({ queue: 'q' }, b);
      await a.stop();

      const [file] = await segments(dir);
      const bytes = await readFile(file!);
      // A flipped byte in the middle (a checksum failure) and a torn tail (a cut mid-record).
      bytes[Math.floor(bytes.length * 0.4)]! ^= 0xff;
      await writeFile(file!, bytes);
      await truncate(file!, (await stat(file!)).size - 50);

      const warnings: Error[] = [];
      const b = await Warren.start({ dataDir: dir });
      b.onError((e) => warnings.push(e));
      const { recovery } = b.stats().queues[0]!;
      assert.ok(recovery.droppedRecords >= 2, `dropped ${recovery.droppedRecords}`);
      assert.ok(recovery.problems.some((p) => p.includes('torn tail')), recovery.problems.join('; '));
      assert.ok(recovery.problems.some((p) => p.includes('skipped')), recovery.problems.join('; '));

      const got: Message[] = [];
      await b.consume('q', (m) => { got.push(m); });
      await until(() => got.length === 30 - recovery.droppedRecords, 'every intact message');
      const texts = got.map((m) => m.text());
      assert.ok(texts.every((t) => bodies.includes(t)), 'nothing but what was published');
      assert.deepEqual(texts, bodies.filter((t) => texts.includes(t)), 'in order');
      // The node goes on taking messages after the repair.
      await b.publish({ queue: 'q' }, 'after');
      await until(() => got.length === 31 - recovery.droppedRecords, 'a new message');
      await b.stop();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
