// The `warren` command on an embedded node's data dir, run as a user runs it: a process per command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { warren } from './testing.ts';

describe('warren, embedded', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'warren-cli-')); });
  after(() => rm(dir, { recursive: true, force: true }));
  const onData = (...args: string[]) => warren(...args, '--data', path.join(dir, 'data'));
  const ordersStats = async () => {
    const r = await onData('stats', '--json');
    assert.equal(r.code, 0, r.stderr);
    const stats = JSON.parse(r.stdout) as { queues: { name: string; ready: number; delayed: number; unacked: number; consumers: number }[] };
    const q = stats.queues.find((s) => s.name === 'orders');
    return q && { ready: q.ready, delayed: q.delayed, unacked: q.unacked, consumers: q.consumers };
  };

  it('declares a queue, publishes (the same id twice is stored once; priority, delay, TTL), consumes and shows stats', async () => {
    assert.deepEqual(await onData('declare', 'queue', 'orders', '--max-deliveries', '5'), { code: 0, stdout: '', stderr: '' });
    const publish = async (data: string, id: string, ...options: string[]) => {
      const r = await onData('publish', 'orders', data, '--id', id, ...options);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as unknown;
    };
    assert.deepEqual(await publish('stale', 'o-0', '--ttl', '1'), { id: 'o-0', duplicate: false, routed: 1 });
    assert.deepEqual(await publish('plain text', 'o-2'), { id: 'o-2', duplicate: false, routed: 1 });
    assert.deepEqual(await publish('{"n":1}', 'o-1', '--priority', '9'), { id: 'o-1', duplicate: false, routed: 1 });
    assert.deepEqual(await publish('{"n":1}', 'o-1'), { id: 'o-1', duplicate: true, routed: 1 });
    assert.deepEqual(await publish('tomorrow', 'o-3', '--delay', '86400000'), { id: 'o-3', duplicate: false, routed: 1 });
    // Each command is a process of its own: its stats count from its start, but the queue is on disk.
    // The one whose TTL ran out while no process held the queue expires when the next one opens it.
    assert.deepEqual(await ordersStats(), { ready: 2, delayed: 1, unacked: 0, consumers: 0 });

    const consumed = await onData('consume', 'orders', '--count', '2');
    assert.equal(consumed.code, 0, consumed.stderr);
    const messages = consumed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; body: string; deliveryCount: number });
    assert.deepEqual(messages.map(({ id, body, deliveryCount }) => ({ id, body, deliveryCount })), [
      { id: 'o-1', body: '{"n":1}', deliveryCount: 1 },
      { id: 'o-2', body: 'plain text', deliveryCount: 1 },
    ]);
    assert.deepEqual(await ordersStats(), { ready: 0, delayed: 1, unacked: 0, consumers: 0 });
  });

  it('purges a queue, deletes it (--if-empty refuses while it holds messages) and deletes an exchange (--if-unused refuses while bound)', async () => {
    const ok = async (...args: string[]) => {
      const r = await onData(...args);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout === '' ? undefined : JSON.parse(r.stdout) as unknown;
    };
    await ok('declare', 'queue', 'jobs');
    await ok('declare', 'exchange', 'work', '--type', 'fanout');
    await ok('bind', 'jobs', 'work');
    for (const n of [1, 2, 3]) await ok('publish', 'work', `job-${n}`, '--key', '');
    assert.deepEqual(await ok('purge', 'jobs'), { queue: 'jobs', purged: 3 });
    await ok('publish', 'jobs', 'one-more');
    const notEmpty = await onData('delete', 'queue', 'jobs', '--if-empty');
    assert.equal(notEmpty.code, 1);
    assert.match(notEmpty.stderr, /^warren: queue 'jobs' holds 1 message\(s\) \(ifEmpty\)/);
    const bound = await onData('delete', 'exchange', 'work', '--if-unused');
    assert.equal(bound.code, 1);
    assert.match(bound.stderr, /^warren: exchange 'work' has 1 binding\(s\) \(ifUnused\)/);
    assert.deepEqual(await ok('delete', 'queue', 'jobs', '--if-unused'), { queue: 'jobs', deleted: true, messages: 1 });
    assert.deepEqual(await ok('delete', 'exchange', 'work', '--if-unused'), { exchange: 'work', deleted: true }, 'its binding went with the queue');
    assert.deepEqual(await ok('delete', 'queue', 'jobs'), { queue: 'jobs', deleted: true, messages: 0 }, 'deleting what does not exist succeeds');
    const gone = await onData('purge', 'jobs');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^warren: queue 'jobs' does not exist/);
  });

  const refusals: [string, string[], RegExp][] = [
    ['a number option that is not a number', ['declare', 'queue', 'q', '--max-deliveries', 'abc'], /--max-deliveries <n>' argument 'abc' is invalid/],
    ['an invalid queue name', ['declare', 'queue', 'bad name!'], /^warren: invalid queue name "bad name!"/],
    ['a queue that does not exist', ['publish', 'nowhere', 'data'], /^warren: queue 'nowhere' does not exist/],
    ['a port out of range', ['node', '--http', '70000'], /--http <port>' argument '70000' is invalid/],
    ['a count of 0 (it took, printed and acked a message)', ['consume', 'q', '--count', '0'], /--count <n>' argument '0' is invalid.*1 or more/],
    ['an empty number', ['publish', 'q', 'x', '--ttl', ''], /--ttl <ms>' argument '' is invalid/],
    ['a number in hex', ['publish', 'q', 'x', '--delay', '0x10'], /--delay <ms>' argument '0x10' is invalid/],
    ['an empty message id (it was taken as none)', ['publish', 'orders', 'x', '--id', ''], /^warren: .*id/],
    ['an empty dead-letter queue name (it was taken as none)', ['declare', 'queue', 'q2', '--dead-letter-queue', ''], /^warren: invalid queue name ""/],
  ];
  it('refuses a data dir that is not there (a typo) for anything but a declare, and makes none', async () => {
    const typo = path.join(dir, 'dta');
    for (const args of [['stats'], ['consume', 'q', '--count', '1'], ['purge', 'q']]) {
      const r = await warren(...args, '--data', typo);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^warren: no node's data at '.*dta'/);
    }
    assert.equal(await access(typo).then(() => true, () => false), false);
  });

  for (const [what, args, message] of refusals) {
    it(`refuses ${what}: exit 1, a message on stderr, no stack trace`, async () => {
      const r = await onData(...args);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    });
  }
});
