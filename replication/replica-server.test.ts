// The mirror side of a takeover: a mirror follows the new leader without a snapshot only if it holds
// exactly what the new leader held of the old leader's stream; with more, less, or after a restart
// (its place no longer known), it answers no, and the leader sends a snapshot. Once it follows, the old
// leader's frames are refused.
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
function mirror(storage: MemoryStorage) {
  const bus = new LocalBus();
  const server = new ReplicaServer(new LocalTransport(bus), subjects, 'b', storage, { rejected: new Map() }, () => true);
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
  return { server, frame, resume, position };
}

describe('a mirror asked to resume after a takeover', () => {
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

    // Restarted, the mirror knows its highest seq but not its place in the stream: a snapshot, then.
    await b.server.stop();
    const again = mirror(storage);
    assert.deepEqual(await again.resume(3, 's3', { epoch: 2, lsn: 1 }), { ok: true, resumed: false });
    assert.deepEqual(await again.position(), { ok: true, position: { seq: 3 } });
    await again.server.stop();
  });
});
