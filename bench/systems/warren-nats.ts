// Warren over NATS: the queue's leader is a `warren node` process of its own; the producer and the
// consumer are two more nodes (client role) in the benchmark process, so every message crosses NATS
// twice (producer → leader → consumer), with confirms after fdatasync on the leader. Mirrored: two more
// node processes hold the mirrors, and a confirm also waits for a quorum of the replicas in sync (the
// leader and the first mirror to answer; minInSync 2 of 3: with one mirror out of sync the queue goes
// on, with both it stops confirming). The NATS server is the machine's shared one on 127.0.0.1:4222;
// each run uses a cluster name of its own and deletes its buckets afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from 'nats';
import { Warren, type Consumer } from '../../index.ts';
import { until } from '../../node/testing.ts';
import { drive } from '../drive.ts';
import { entryPoint, childArgs } from '../entry-point.ts';
import { queueNames } from '../topology.ts';
import type { Delivery, ServerInfo, Session, System, Topology } from '../types.ts';
import { engineWarmupN, warmup } from '../workloads.ts';

const NATS = 'nats://127.0.0.1:4222';
const CLI = entryPoint('../../cli/warren.ts', import.meta.url);
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
    const node = spawn(process.execPath, [...childArgs, CLI, 'node', '--nats', NATS, '--cluster', cluster, '--data', data, '--id', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => { node.kill('SIGKILL'); reject(new Error(`node ${id} did not start within 30 s`)); }, 30_000);
    node.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    node.stdout!.setEncoding('utf8').on('data', (c: string) => { if (c.includes('"ready":true')) { clearTimeout(timer); resolve(node); } });
    node.once('exit', (code) => { clearTimeout(timer); reject(new Error(`node ${id} exited with ${code}: ${stderr.split('\n').slice(-3).join(' ')}`)); });
  });
}

/** Warren over NATS with `mirrors` mirrors per queue (0: a leader alone). */
export const warrenCluster = (mirrors: number): System => ({
  warmup: 'session',

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
      durability: "fsync 'always': a confirm means fdatasync'd on the leader and on at least one of its two mirrors (a quorum: 2 of 3), under the leader's lease",
      fanout: `a fanout exchange bound to 4 mirrored queues (${mirrors + 1} replicas each)`,
    };
  },

  async open(name: string, topology: Topology): Promise<Session> {
    const ids = nodeIds(mirrors);
    for (const id of ids) await rm(dataDir(name, id), { recursive: true, force: true });
    // Started together; if one fails, the others are stopped too.
    const started = await Promise.allSettled(ids.map((id) => startNode(clusterOf(name), id, dataDir(name, id))));
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) {
      for (const s of servers) s.kill('SIGKILL');
      throw failed.reason;
    }
    const common = { nats: NATS, cluster: clusterOf(name), role: 'client' as const };
    const producer = await Warren.start({ ...common, nodeId: 'producer' });
    const consumerNode = await Warren.start({ ...common, nodeId: 'consumer' });
    const clients = { producer, consumerNode };
    await warmUp(clients, name, topology, mirrors);
    const session = await declare(clients, name, topology, mirrors);
    return {
      ...session,
      serverPid: () => servers[0]!.pid,
      async close(): Promise<void> {
        await session.close();
        await producer.stop();
        await consumerNode.stop();
        await Promise.all(servers.map((s) => new Promise<void>((r) => { s.once('exit', () => r()); s.kill('SIGTERM'); })));
        await removeCluster(name, mirrors);
      },
    };
  },

  remove: (name: string) => removeCluster(name, mirrors),
});

interface Clients {
  readonly producer: Warren;
  readonly consumerNode: Warren;
}

/** The topology's queues on the cluster, and a session on them; its close cancels its consumers only. */
async function declare({ producer, consumerNode }: Clients, name: string, topology: Topology, mirrors: number): Promise<Omit<Session, 'serverPid'>> {
  const queues = queueNames(name, topology);
  for (const q of queues) await producer.declareQueue(q, { mirrors });
  if (mirrors > 0) await allInSync(producer, queues, mirrors);
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
    async close(): Promise<void> {
      for (const c of consumers) await c.cancel().catch(() => {});
    },
  };
}

/**
 * A mirrored queue starts with its leader alone in sync; its mirrors join once they hold its (empty)
 * state. A run measures the queue once they have, as a RabbitMQ quorum queue is measured once declared.
 */
function allInSync(node: Warren, queues: readonly string[], mirrors: number): Promise<void> {
  return until(async () => {
    const stats = (await node.clusterStats()).queues.filter((q) => queues.includes(q.name));
    return stats.length === queues.length && stats.every((q) => q.mirrors.filter((m) => m.inSync).length === mirrors);
  }, `the mirrors of ${queues.join(', ')} in sync`, 15_000);
}

/**
 * The node processes start with every run, cold, where the peers are long-running brokers: the run's
 * own warm-up (in the benchmark process) would warm the clients only. So the nodes get one of their own
 * before the measured session, through the measured queues themselves (drained and empty when the run
 * starts): on queues of their own, placement would put the measured queues on other nodes than the
 * warm-up's, whose leader path is still cold (mirrored W1: 12,200–12,900 against 14,400–16,800 msgs/s).
 */
async function warmUp(clients: Clients, name: string, topology: Topology, mirrors: number): Promise<void> {
  const session = await declare(clients, name, topology, mirrors);
  try {
    const result = await drive({ ...session, serverPid: () => undefined }, warmup(topology, engineWarmupN(topology)));
    if (!result.complete) throw new Error(`the nodes' warm-up delivered ${result.distinct} of ${result.n * result.queues}`);
  } finally {
    await session.close();
  }
}

async function removeCluster(name: string, mirrors: number): Promise<void> {
  for (const id of nodeIds(mirrors)) await rm(dataDir(name, id), { recursive: true, force: true });
  await deleteBuckets(name);
}

export const warrenNats = warrenCluster(0);
export const warrenMirrored = warrenCluster(2);
