// Warren over NATS: the queue's leader is a `warren node` process of its own; the producer and the
// consumer are two more nodes (client role) in the benchmark process, so every message crosses NATS
// twice (producer → leader → consumer), with confirms after fdatasync on the leader. The NATS server
// is the machine's shared one on 127.0.0.1:4222; each run uses a cluster name of its own and deletes
// its catalog bucket afterwards.
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
const dataDir = (name: string) => path.join(os.tmpdir(), `${name}-leader`);

async function deleteCatalog(name: string): Promise<void> {
  const nc = await connect({ servers: NATS });
  try {
    await (await nc.jetstreamManager()).streams.delete(`KV_warren_${clusterOf(name)}`).catch(() => false);
  } finally {
    await nc.close();
  }
}

function startLeader(name: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const leader = spawn(process.execPath, ['--import', 'tsx', CLI, 'node', '--nats', NATS, '--cluster', clusterOf(name), '--data', dataDir(name), '--id', 'leader'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => { leader.kill('SIGKILL'); reject(new Error('the leader node did not start within 30 s')); }, 30_000);
    leader.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    leader.stdout!.setEncoding('utf8').on('data', (c: string) => { if (c.includes('"ready":true')) { clearTimeout(timer); resolve(leader); } });
    leader.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the leader node exited with ${code}: ${stderr.split('\n').slice(-3).join(' ')}`)); });
  });
}

export const warrenNats: System = {
  async probe(): Promise<ServerInfo> {
    const nc = await connect({ servers: NATS, timeout: 2_000 });
    const version = nc.info?.version ?? '?';
    await nc.close();
    return {
      server: `Warren over NATS ${version} (leader in its own process; producer and consumer nodes in the benchmark process)`,
      durability: "fsync 'always' on the leader: a confirm means fdatasync'd there (group commit), after two NATS hops",
      fanout: 'a fanout exchange bound to 4 durable queues on the leader node',
    };
  },

  async open(name: string, topology: Topology): Promise<Session> {
    await rm(dataDir(name), { recursive: true, force: true });
    const leader = await startLeader(name);
    const common = { nats: NATS, cluster: clusterOf(name), role: 'client' as const };
    const producer = await Warren.start({ ...common, nodeId: 'producer' });
    const consumerNode = await Warren.start({ ...common, nodeId: 'consumer' });
    const queues = queueNames(name, topology);
    for (const q of queues) await producer.declareQueue(q);
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
      serverPid: () => leader.pid,
      async close(): Promise<void> {
        for (const c of consumers) await c.cancel().catch(() => {});
        await producer.stop();
        await consumerNode.stop();
        await new Promise<void>((r) => { leader.once('exit', () => r()); leader.kill('SIGTERM'); });
        await warrenNats.remove(name, topology);
      },
    };
  },

  async remove(name: string): Promise<void> {
    await rm(dataDir(name), { recursive: true, force: true });
    await deleteCatalog(name);
  },
};
