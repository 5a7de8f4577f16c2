// A queue actor that crashes, through the public API and real files: a record damaged on disk after the
// node read the log (a crash while delivering it) and a queue folder that cannot be opened (a crash at
// every restart, until the supervisor gives the actor up and the node opens the queue again later).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Stopped, Warren } from '../index.ts';
import { breakQueueFolder, damageRecord, until } from './testing.ts';

const MIB = 1024 * 1024;
/** Past the 32 MiB of bodies a queue keeps in memory: the last ones are read back from the log. */
const COUNT = 40;
const DAMAGED = 35;

const bodyOf = (i: number) => Buffer.concat([Buffer.from(`mark-${i}-`), Buffer.alloc(MIB - 16, 97 + (i % 26))]);

async function withBacklog(run: (node: Warren, queueDir: string, errors: Error[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'warren-crash-'));
  const node = await Warren.start({ dataDir: dir });
  const errors: Error[] = [];
  node.onError((e) => errors.push(e));
  try {
    await node.declareQueue('q');
    await Promise.all(Array.from({ length: COUNT }, (_, i) => node.publish({ queue: 'q' }, bodyOf(i), { id: `m${i}` })));
    await run(node, path.join(dir, 'queues', 'q'), errors);
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Consumes until every one of `ids` came, and the queue holds nothing more. */
async function consumeAll(node: Warren, ids: readonly string[]): Promise<Set<string>> {
  const got = new Set<string>();
  const c = await node.consume('q', (m) => { got.add(m.id); }, { prefetch: 4 });
  const q = () => node.stats().queues.find((s) => s.name === 'q')!;
  await until(() => ids.every((id) => got.has(id)) && q().ready + q().unacked === 0, 'every message consumed, none left held', 60_000);
  await c.cancel();
  return got;
}

const ids = (n: number, except: number) => Array.from({ length: n }, (_, i) => `m${i}`).filter((id) => id !== `m${except}`);

describe('a crashing queue actor', () => {
  it('is rebuilt from its log: a damaged record is dropped and reported, every other message delivered once acked', async () => {
    await withBacklog(async (node, queueDir, errors) => {
      await damageRecord(queueDir, `mark-${DAMAGED}-`);
      const got = await consumeAll(node, ids(COUNT, DAMAGED));
      assert.ok(!got.has(`m${DAMAGED}`));
      const q = node.stats().queues.find((s) => s.name === 'q')!;
      assert.equal(q.recovery.droppedRecords, 1, 'the restart recovered the log and dropped the damaged record');
      assert.ok(errors.some((e) => /damaged/.test(e.message)), 'the damage was reported');
    });
  });

  it('that keeps crashing is stopped (publishes fail fast with Stopped), and the node opens the queue again once it can: nothing confirmed is lost', async () => {
    await withBacklog(async (node, queueDir, errors) => {
      const mend = await breakQueueFolder(queueDir, `mark-${DAMAGED}-`);
      const got = new Set<string>();
      await node.consume('q', (m) => { got.add(m.id); }, { prefetch: 4 });
      // Cancelled while the queue is down: it must not come back with the queue, holding messages.
      const leaving = await node.consume('q', (m) => { got.add(m.id); }, { prefetch: 4 });
      const confirmed: string[] = [];
      let stopped: unknown;
      for (let i = 0; i < 1_000 && !stopped; i++) {
        await node.publish({ queue: 'q' }, `probe ${i}`, { id: `p${i}` }).then(
          () => confirmed.push(`p${i}`),
          (e: unknown) => { if (e instanceof Stopped) stopped = e; },
        );
      }
      assert.ok(stopped instanceof Stopped, 'the queue stopped after crashing again and again');
      await until(() => errors.some((e) => /kept failing/.test(e.message)), 'the node reports the queue down');
      assert.equal(node.stats().queues.find((s) => s.name === 'q')?.state, 'down');
      await leaving.cancel();
      assert.deepEqual(await leaving.closed, { reason: 'cancelled' });

      await mend();
      let reopened = 0;
      await until(() => node.publish({ queue: 'q' }, 'after', { id: `after${reopened}` }).then(() => true, () => { reopened++; return false; }), 'the queue open again', 30_000);
      const want = [...ids(COUNT, DAMAGED), ...confirmed, `after${reopened}`];
      const q = () => node.stats().queues.find((s) => s.name === 'q')!;
      await until(() => want.every((id) => got.has(id)) && q().ready + q().unacked === 0, 'every confirmed message consumed, none left held', 60_000);
      assert.equal(q().recovery.droppedRecords, 1);
      assert.equal(q().state, 'running');
      assert.equal(q().consumers, 1);
    });
  });

  it('that is down can be deleted as it is: its folder goes, its consumers close, and a queue declared anew under its name starts empty', async () => {
    await withBacklog(async (node, queueDir, errors) => {
      await breakQueueFolder(queueDir, `mark-${DAMAGED}-`);
      const consumer = await node.consume('q', () => {}, { prefetch: 4 });
      let stopped = false;
      for (let i = 0; i < 1_000 && !stopped; i++) await node.publish({ queue: 'q' }, `probe ${i}`).catch((e: unknown) => { stopped = e instanceof Stopped; });
      assert.ok(stopped, 'the queue stopped after crashing again and again');
      await until(() => errors.some((e) => /kept failing/.test(e.message)), 'the node reports the queue down');
      assert.equal(node.stats().queues.find((s) => s.name === 'q')?.state, 'down');

      await assert.rejects(node.deleteQueue('q', { ifEmpty: true }), Stopped, 'what it holds cannot be read');
      await assert.rejects(node.deleteQueue('q', { ifUnused: true }), { code: 'PRECONDITION_FAILED' });
      assert.equal(await node.deleteQueue('q'), 0, 'what it held cannot be counted');
      assert.deepEqual(await consumer.closed, { reason: 'deleted' });
      assert.equal(node.stats().queues.find((s) => s.name === 'q'), undefined);
      await assert.rejects(rm(queueDir), { code: 'ENOENT' }, 'its folder (a file in its place here) is gone');
      await assert.rejects(node.publish({ queue: 'q' }, 'x'), { code: 'QUEUE_NOT_FOUND' });

      await node.declareQueue('q');
      await node.publish({ queue: 'q' }, 'fresh');
      // Past the pause after which the node would have opened the old queue again: the new one stays as it is.
      await new Promise((r) => setTimeout(r, 1_500));
      const q = node.stats().queues.find((s) => s.name === 'q');
      assert.equal(q?.state, 'running');
      assert.equal(q?.ready, 1);
    });
  });
});
