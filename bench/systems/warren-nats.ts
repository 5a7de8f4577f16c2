// Warren over NATS: the queue's leader is a `warren node` process of its own; the producer and the
// consumer are two more nodes (client role) in the benchmark process, so every message crosses NATS
// twice (producer → leader → consumer), with confirms after fdatasync on the leader. Mirrored: two more
// node processes hold the mirrors, and a confirm also waits for one of them (minInSync 2 of 3, as a
// quorum queue). The NATS server is the machine's shared one on 127.0.0.1:4222; each run uses a
// cluster name of its own and deletes its buckets afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import { Warren, type Consumer } from '../../index.ts';
import { queueNames } from '../topology.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';

const NATS = 'nats://127.0.0.1:4222';
const CLI = fileURLToPath(new URL('../../cli/warren.ts', import.meta.url));
const clusterOf = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
const dataDir = (name: string, node: string) => path.join(os.tmpdir(), `${name}-${node}`);
const nodeIds = (mirrors: number) => ['leader', ...Array.from({ length: mirrors }, (_, i) => `mirror${i + 1}`)];

async function deleteBuckets(name: string): Promise<void> {
  const nc = await connect({ servers: NATS });
  try {
    const jsm = await nc.jetstreamManager();
    for (const bucket of [`KV_warren_${clusterOf(name)}`, `KV_warren_${clusterOf(name)}_ha`]) await jsm.streams.delete(bucket).catch(() => false);
  } finally {
    await nc.close();
  }
}

/** A `warren node` process; resolves once it says it is ready. */
export function startNode(cluster: string, id: string, data: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const node = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', '--nats', NATS, '--cluster', cluster, '--data', data, '--id', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => { node.kill('SIGKILL'); reject(new Error(`node ${id} did not start within 30 s`)); }, 30_000);
    node.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    node.stdout!.setEncoding('utf8').on('data', (c: string) => { if (c.includes('"ready":true')) { clearTimeout(timer); resolve(node); } });
    node.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${id} exited with ${code}: ${stderr.split('\n').slice(-3).join(' ')}`)); });
  });
}

/** Warren over NATS with `mirrors` mirrors per queue (0: a leader alone). */
export const warrenCluster = (mirrors: number): System => ({
  async probe(): Promise<ServerInfo> {
    const nc = await connect({ servers: NATS, timeout: 2_000 });
    const version = nc.info?.version ?? '?';
    await nc.close();
    return mirrors === 0 ? {
      server: `Warren over NATS ${version} (leader in its own process; producer and consumer nodes in the benchmark process)`,
      durability: "fsync 'always' on the leader: a confirm means fdatasync'd there (group commit), after two NATS hops",
      fanout: 'a fanout exchange bound to 4 durable queues on the leader node',
    } : {
      server: `Warren over NATS ${version}, mirrored: ${mirrors + 1} node processes (leader + ${mirrors} mirrors); producer and consumer nodes in the benchmark process`,
      durability: "fsync 'always': a confirm means fdatasync'd on the leader and on an in-sync mirror (minInSync 2), under the leader's lease",
      fanout: `a fanout exchange bound to 4 mirrored queues (${mirrors + 1} replicas each)`,
    };
  },

  async open(name: string, topology: Topology): Promise<Session> {
    const ids = nodeIds(mirrors);
    for (const id of ids) await rm(dataDir(name, id), { recursive: true, force: true });
    const servers: ChildProcess[] = [];
    for (const id of ids) servers.push(await startNode(clusterOf(name), id, dataDir(name, id)));
    const common = { nats: NATS, cluster: clusterOf(name), role: 'client' as const };
    const producer = await Warren.start({ ...common, nodeId: 'producer' });
    const consumerNode = await Warren.start({ ...common, nodeId: 'consumer' });
    const queues = queueNames(name, topology);
    for (const q of queues) await producer.declareQueue(q, { mirrors });
    if (topology.kind === 'fanout') {
      await producer.declareExchange(name, { type: 'fanout' });
      for (const q of queues) await producer.bindQueue(q, name, '');
    }
    const target = topology.kind === 'fanout' ? { exchange: name, routingKey: '' } : { queue: name };
    const consumers: Consumer[] = [];
    return {
      publish: async (body) => { await producer.publish(target, body); },
      async consume(index: number, prefetch: number, onMessage: (d: Delivery) => void): Promise<void> {
        consumers.push(await consumerNode.consume(queues[index]!, (msg) => { onMessage({ body: msg.body, ack: () => msg.ack() }); }, { prefetch, ack: 'manual' }));
      },
      serverPid: () => servers[0]!.pid,
      async close(): Promise<void> {
        for (const c of consumers) await c.cancel().catch(() => {});
        await producer.stop();
        await consumerNode.stop();
        await Promise.all(servers.map((s) => new Promise<void>((r) => { s.once('exit', () => r()); s.kill('SIGTERM'); })));
        await removeCluster(name, mirrors);
      },
    };
  },

  remove: (name: string) => removeCluster(name, mirrors),
});

async function removeCluster(name: string, mirrors: number): Promise<void> {
  for (const id of nodeIds(mirrors)) await rm(dataDir(name, id), { recursive: true, force: true });
  await deleteBuckets(name);
}

export const warrenNats = warrenCluster(0);
export const warrenMirrored = warrenCluster(2);
