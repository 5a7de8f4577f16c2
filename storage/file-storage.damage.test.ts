// Damage to a closed log: flipped bytes anywhere, or a file cut at any point. Opening never throws;
// every record the damage did not touch is recovered; the report accounts for the damaged bytes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { FileStorage, queueFolder } from './file-storage.ts';
import { frameRecords, scanRecords } from './record-codec.ts';
import { asMessageId, asSeq } from '../node/ids.ts';
import type { LogRecord, RecoveredQueue } from './storage.ts';
import { QUEUE, appendAll, appendsArbitrary, enqueue, fcParams, memoryRecovery, withTempDir } from './test-support.ts';

/** A file index: half of the time the last segment, whose damage is a torn tail. */
const file = fc.oneof(fc.constant(-1), fc.nat());
const damageArbitrary = fc.oneof(
  fc.record({
    kind: fc.constant('flip' as const),
    flips: fc.array(fc.record({ file, at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant('cut' as const), file, at: fc.nat() }),
);

interface Laid {
  readonly record: LogRecord;
  readonly offset: number;
  readonly length: number;
  /** The damage touched it: the part left in the file is what recovery must drop. */
  hit: boolean;
  /** Bytes of it still in the file. */
  kept: number;
}

describe('FileStorage under damage', () => {
  it('recovers every intact record around flipped bytes or a cut, and reports what it dropped', async () => {
    const segmentSizes = fc.constantFrom(128, 1024, 64 * 1024 * 1024);
    const run = fc.asyncProperty(appendsArbitrary(40), segmentSizes, damageArbitrary, async (appends, segmentBytes, damage) => {
      await withTempDir(async (dir) => {
        const openLog = async () => {
          const storage = await FileStorage.open(dir, { fsync: 'always', segmentBytes });
          return { storage, log: await storage.openQueue(QUEUE) };
        };
        const writer = await openLog();
        await writer.log.recover();
        await appendAll(writer.log, appends);
        await writer.storage.close();

        const folder = join(dir, 'queues', queueFolder(QUEUE));
        const segments = await Promise.all(
          (await readdir(folder)).sort().map(async (name) => {
            const path = join(folder, name);
            const bytes = await readFile(path);
            const laid: Laid[] = [];
            for (const item of scanRecords(bytes)) {
              assert.equal(item.kind, 'record', 'the log is intact before the damage');
              if (item.kind === 'record') laid.push({ record: item.record, offset: item.offset, length: item.length, hit: false, kept: item.length });
            }
            return { path, bytes, laid };
          }),
        );
        const pick = (i: number) => segments[i < 0 ? segments.length - 1 : i % segments.length]!;

        if (damage.kind === 'flip') {
          for (const f of damage.flips) {
            const s = pick(f.file);
            if (s.bytes.length === 0) continue;
            const at = f.at % s.bytes.length;
            s.bytes[at]! ^= f.xor;
            for (const l of s.laid) if (at >= l.offset && at < l.offset + l.length) l.hit = true;
          }
          await Promise.all(segments.map((s) => writeFile(s.path, s.bytes)));
        } else {
          const s = pick(damage.file);
          const at = damage.at % (s.bytes.length + 1);
          for (const l of s.laid) {
            l.kept = Math.max(0, Math.min(l.length, at - l.offset));
            l.hit = l.kept > 0 && l.kept < l.length;
          }
          await truncate(s.path, at);
        }
        const laid = segments.flatMap((s) => s.laid);
        const intact = laid.filter((l) => !l.hit && l.kept === l.length).map((l) => l.record);
        const droppedBytes = laid.filter((l) => l.hit).reduce((sum, l) => sum + l.kept, 0);

        const reader = await openLog();
        const recovered = await reader.log.recover();
        const expected = await memoryRecovery(intact);
        assert.deepStrictEqual([...recovered.messages], [...expected.messages]);
        assert.deepStrictEqual(recovered.recentIds, expected.recentIds);
        assert.equal(recovered.nextSeq, expected.nextSeq);
        assert.equal(recovered.report.droppedBytes, droppedBytes);
        assert.equal(recovered.report.droppedRecords > 0, droppedBytes > 0);
        assert.equal(recovered.report.problems.length > 0, droppedBytes > 0);

        // The repaired log takes appends, and only damage left in place (not a truncated tail) is reported again.
        await reader.log.append([enqueue(recovered.nextSeq)]);
        await reader.storage.close();
        const again = await openLog();
        const after = await again.log.recover();
        assert.deepStrictEqual([...after.messages].map((m) => m.seq), [...[...expected.messages].map((m) => m.seq), recovered.nextSeq]);
        // The same damage, in the same place; its reason may read differently now that bytes follow it (a
        // length that ran past the end may now reach bytes whose checksum fails).
        const place = (p: string) => p.replace(/ lost: .*\)$/, ' lost)');
        for (const p of after.report.problems) assert.ok(recovered.report.problems.map(place).includes(place(p)) && p.includes('skipped'), p);
        await again.storage.close();
      });
    });
    await fc.assert(run, fcParams('damaged logs recover every intact record', 60));
  });

  describe('a torn tail whose binary body holds framed records (a producer forwarding log files, say)', () => {
    const cases: readonly [string, LogRecord, (r: RecoveredQueue) => void][] = [
      ['the ack of a confirmed message in it acks nothing', { type: 'remove', reason: 'ack', seqs: [asSeq(1)] }, (r) => assert.deepEqual([...r.messages].map((m) => m.seq), [1])],
      ['an enqueue with a far seq in it keeps nothing from opening', enqueue(2 ** 40, 'x'), (r) => assert.equal(r.nextSeq, 2)],
    ];
    // Torn as a file system may leave it: cut short, or grown to its size with the end never written (zeros).
    for (const [name, inside, check, tear] of cases.flatMap(([n, r, c]) => (['cut', 'zeroed'] as const).map((tear) => [`${n} (${tear})`, r, c, tear] as const))) {
      it(name, async () => {
        await withTempDir(async (dir) => {
          const writer = await FileStorage.open(dir, { fsync: 'always' });
          const log = await writer.openQueue(QUEUE);
          await log.recover();
          await log.append([enqueue(1)]);
          const body = Buffer.concat([Buffer.alloc(4096, 7), frameRecords([inside]).bytes, Buffer.alloc(4096, 9)]);
          await log.append([{ type: 'enqueue', meta: { seq: asSeq(2), id: asMessageId('m2'), headers: {}, priority: 0, enqueuedAt: 1_700_000_000_000, size: body.length }, body }]);
          await writer.close();
          // The crash tore the write of seq 2 (never confirmed), 100 bytes before its end.
          const folder = join(dir, 'queues', queueFolder(QUEUE));
          const last = join(folder, (await readdir(folder)).filter((f) => f.endsWith('.seg')).sort().at(-1)!);
          const size = (await stat(last)).size;
          if (tear === 'cut') await truncate(last, size - 100);
          else await writeFile(last, Buffer.concat([(await readFile(last)).subarray(0, size - 2048), Buffer.alloc(2048)]));
          const reader = await FileStorage.open(dir, { fsync: 'always' });
          const recovered = await (await reader.openQueue(QUEUE)).recover();
          check(recovered);
          assert.equal(recovered.report.droppedRecords, 1);
          assert.match(recovered.report.problems.join('\n'), /truncated a torn tail/);
          await reader.close();
        });
      });
    }
  });
});
