// The mirror side of a takeover: a mirror follows the new leader without a snapshot only if it holds
// exactly what the new leader held of the old leader's stream; with more, less, or not knowing its
// place, it answers no, and the leader sends a snapshot. Once it follows, the old leader's frames are
// refused. A mirror back from a clean stop or a crash knows its place from its log's last mark; one
// that crashed part-way through an append knows only its highest seq. A mirror that fell behind its
// leader's stream goes on from its place in it the same way (the leader sends what it missed), unless
// it holds part of an append past that place.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asMessageId, asQueue, asSeq } from '../node/ids.ts';
import { control, controlReply } from '../queues/remote-protocol.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { frameRecords } from '../storage/record-codec.ts';
import { clusterSubjects } from '../transport/cluster-subjects.ts';
import { decode, encode } from '../transport/frame.ts';
import { LocalBus, LocalTransport } from '../transport/local.ts';
import { ReplicaServer } from './replica-server.ts';

const queue = asQueue('q');
const subjects = clusterSubjects('t');

/** Node 'b' as a mirror of 'q' on `storage`, and a way to send it what a leader sends. */
function mirror(storage: MemoryStorage, stored?: { epoch: number; inSync: string[] }) {
  const bus = new LocalBus();
  const server = new ReplicaServer(new LocalTransport(bus), subjects, 'b', storage, { rejected: new Map() }, () => true, async () => stored);
  server.start();
  const leader = new LocalTransport(bus);
  const ask = async (data: Uint8Array) => {
    const answer = decode(await leader.request(subjects.replicate('b'), data, { timeoutMs: 2_000 }));
    return answer.type === 'control' ? controlReply.parse(JSON.parse(answer.json)) : answer;
  };
  const frame = (epoch: number, session: string, from: number, lsn: number, seqs: number[], reset = false) => ask(encode({
    type: 'replicate', queue, epoch, session, from, reset, lsn,
    records: frameRecords(seqs.map((s) => ({ type: 'enqueue', meta: { seq: asSeq(s), id: asMessageId(`m${s}`), headers: {}, priority: 0, enqueuedAt: 0, size: 1 }, body: Uint8Array.of(s) }))).bytes,
  }));
  const resume = (epoch: number, session: string, from: { epoch: number; lsn: number }) => ask(control({ op: 'resume', queue, epoch, session, from }));
  const position = () => ask(control({ op: 'position', queue }));
  return { server, ask, frame, resume, position };
}

describe('a mirror asked to resume', () => {
  it('follows the new leader only from exactly the place it holds, and then refuses the old one', async () => {
    const storage = new MemoryStorage();
    const b = mirror(storage);
    // The old leader (epoch 1): a snapshot session, then two appends (lsn 1 and 2).
    assert.deepEqual(await b.frame(1, 's1', 0, 0, [], true), { ok: true });
    assert.deepEqual(await b.frame(1, 's1', 1, 1, [1]), { ok: true });
    assert.deepEqual(await b.frame(1, 's1', 2, 2, [2]), { ok: true });

    // A new leader that held less (lsn 1), or more (lsn 3), of epoch 1's stream: no.
    assert.deepEqual(await b.resume(2, 's2', { epoch: 1, lsn: 1 }), { ok: true, resumed: false });
    assert.deepEqual(await b.resume(2, 's2', { epoch: 1, lsn: 3 }), { ok: true, resumed: false });
    // Nor one whose place is in another leader's stream.
    assert.deepEqual(await b.resume(2, 's2', { epoch: 0, lsn: 2 }), { ok: true, resumed: false });
    // Exactly as much: yes, and the new leader's session goes on from its frame 0.
    assert.deepEqual(await b.resume(2, 's2', { epoch: 1, lsn: 2 }), { ok: true, resumed: true });
    assert.deepEqual(await b.frame(2, 's2', 0, 1, [3]), { ok: true });
    assert.deepEqual(await b.position(), { ok: true, position: { seq: 3, stream: { epoch: 2, lsn: 1 } } });

    // The old leader, paused through the takeover, is fenced out.
    const stale = await b.frame(1, 's1', 3, 3, [4]);
    assert.ok('type' in stale && stale.type === 'error' && /epoch 1 is older than 2/.test(stale.message), `refused as stale: ${JSON.stringify(stale)}`);

    // Stopped cleanly, the mirror knows its place in the stream from its log's last mark: back, it goes on from there.
    await b.server.stop();
    const again = mirror(storage);
    assert.deepEqual(await again.position(), { ok: true, position: { seq: 3, stream: { epoch: 2, lsn: 1 } } });
    assert.deepEqual(await again.resume(2, 's3', { epoch: 2, lsn: 1 }), { ok: true, resumed: true });
    assert.deepEqual(await again.frame(2, 's3', 0, 2, [4]), { ok: true });
    // After a crash (its log not closed) as well.
    const crashed = mirror(storage);
    assert.deepEqual(await crashed.position(), { ok: true, position: { seq: 4, stream: { epoch: 2, lsn: 2 } } });
    assert.deepEqual(await crashed.resume(2, 's4', { epoch: 2, lsn: 2 }), { ok: true, resumed: true });
    // But not after a crash part-way through an append too large for one frame: its log holds records
    // past its last mark. It knows its highest seq only: a snapshot, then.
    assert.deepEqual(await crashed.frame(2, 's4', 0, 0, [5]), { ok: true });
    const torn = mirror(storage);
    assert.deepEqual(await torn.position(), { ok: true, position: { seq: 5 } });
    assert.deepEqual(await torn.resume(3, 's5', { epoch: 2, lsn: 2 }), { ok: true, resumed: false });
    for (const m of [again, crashed, torn]) await m.server.stop();
  });

  it('empties its copy for a reset only once the metadata has it out of inSync, and takes no epoch the metadata does not know', async () => {
    const stored = { epoch: 1, inSync: ['a'] };
    const b = mirror(new MemoryStorage(), stored);
    assert.deepEqual(await b.frame(1, 's1', 0, 0, [], true), { ok: true });
    assert.deepEqual(await b.frame(1, 's1', 1, 1, [1, 2]), { ok: true });
    stored.inSync = ['a', 'b'];
    // A reset while it is in sync (a forged or replayed frame: the leader takes it out first) is refused.
    const wipe = await b.frame(1, 'forged', 0, 0, [], true);
    assert.ok('type' in wipe && wipe.type === 'error' && /in sync/.test(wipe.message), JSON.stringify(wipe));
    stored.inSync = ['a'];
    const fence = await b.frame(9, 'forged', 0, 0, [], true);
    assert.ok('type' in fence && fence.type === 'error' && /epoch 9 is newer than the metadata's 1/.test(fence.message), JSON.stringify(fence));
    // Its copy and its session are as they were: the leader goes on.
    assert.deepEqual(await b.position(), { ok: true, position: { seq: 2, stream: { epoch: 1, lsn: 1 } } });
    assert.deepEqual(await b.frame(1, 's1', 2, 2, [3]), { ok: true });
    await b.server.stop();
  });

  it('refuses frames for queues it holds no replica of, and keeps nothing for them', async () => {
    const bus = new LocalBus();
    const rejected = new Map<string, number>();
    const server = new ReplicaServer(new LocalTransport(bus), subjects, 'b', new MemoryStorage(), { rejected }, () => false);
    server.start();
    const leader = new LocalTransport(bus);
    for (let i = 0; i < 100; i++) {
      const answer = decode(await leader.request(subjects.replicate('b'), encode({ type: 'replicate', queue: `gone-${i}`, epoch: 1, session: 's', from: 0, reset: false, lsn: 1, records: new Uint8Array(0) }), { timeoutMs: 2_000 }));
      assert.ok(answer.type === 'error' && /holds no replica/.test(answer.message), JSON.stringify(answer));
    }
    assert.equal(rejected.get('not-a-replica'), 100);
    assert.equal(server.size, 0);
    await server.stop();
  });

  it('refuses a replicate frame that carries a mark: a mirror writes its own', async () => {
    const b = mirror(new MemoryStorage());
    assert.deepEqual(await b.frame(1, 's1', 0, 0, [], true), { ok: true });
    const marked = await b.ask(encode({ type: 'replicate', queue, epoch: 1, session: 's1', from: 1, reset: false, lsn: 1, records: frameRecords([{ type: 'mark', epoch: 1, lsn: 9 }]).bytes }));
    assert.ok('type' in marked && marked.type === 'error' && /a mark in a replicate frame/.test(marked.message), `refused: ${JSON.stringify(marked)}`);
    assert.deepEqual(await b.position(), { ok: true, position: { seq: 0, stream: { epoch: 1, lsn: 0 } } });
    await b.server.stop();
  });

  it('takes no frame after one its log refused, even one already on its way: no mark follows a gap', async () => {
    const storage = new MemoryStorage();
    const b = mirror(storage);
    assert.deepEqual(await b.frame(1, 's1', 0, 0, [], true), { ok: true });
    assert.deepEqual(await b.frame(1, 's1', 1, 1, [5]), { ok: true });
    // A copy that diverged: seq 3 does not follow 5, and frame 3 arrives before frame 2's answer.
    const [refused, next] = await Promise.all([b.frame(1, 's1', 2, 2, [3]), b.frame(1, 's1', 3, 3, [6])]);
    assert.ok('type' in refused && refused.type === 'error' && /does not follow 5/.test(refused.message), `refused: ${JSON.stringify(refused)}`);
    assert.ok('type' in next && next.type === 'error' && /expected frame 3 of session \(none\)/.test(next.message), `out of sync: ${JSON.stringify(next)}`);
    assert.deepEqual(await b.position(), { ok: true, position: { seq: 5 } });
    // Back after a crash, its log's last mark is still the place it holds.
    const again = mirror(storage);
    assert.deepEqual(await again.position(), { ok: true, position: { seq: 5, stream: { epoch: 1, lsn: 1 } } });
    for (const m of [b, again]) await m.server.stop();
  });

  it('goes on in the same leader\'s stream from where it is, but not while it holds part of an append', async () => {
    const b = mirror(new MemoryStorage());
    assert.deepEqual(await b.frame(1, 's1', 0, 0, [], true), { ok: true });
    assert.deepEqual(await b.frame(1, 's1', 1, 1, [1]), { ok: true });
    // A lagging mirror: the leader asks where it is, and starts a new session from there.
    assert.deepEqual(await b.position(), { ok: true, position: { seq: 1, stream: { epoch: 1, lsn: 1 } } });
    assert.deepEqual(await b.resume(1, 's2', { epoch: 1, lsn: 1 }), { ok: true, resumed: true });
    assert.deepEqual(await b.frame(1, 's2', 0, 2, [2]), { ok: true });
    // The first part of append 3 (too large for one frame: no lsn yet): its place is still lsn 2, yet
    // its log holds more, so no session may go on from lsn 2.
    assert.deepEqual(await b.frame(1, 's2', 1, 0, [3]), { ok: true });
    assert.deepEqual(await b.resume(1, 's3', { epoch: 1, lsn: 2 }), { ok: true, resumed: false });
    // The rest of append 3: whole again.
    assert.deepEqual(await b.frame(1, 's2', 2, 3, [4]), { ok: true });
    assert.deepEqual(await b.resume(1, 's3', { epoch: 1, lsn: 3 }), { ok: true, resumed: true });
    await b.server.stop();
  });
});
