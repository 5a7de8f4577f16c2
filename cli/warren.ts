#!/usr/bin/env node
// The `warren` command: runs a node, and declares, publishes, consumes, purges, deletes and reads stats on a cluster
// (with --nats) or on an embedded node's data dir (without). Same engine as the library.
import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Warren, type StartOptions } from '../index.ts';
import { HttpMonitor } from './http-monitor.ts';

const program = new Command('warren').description('Warren: a message-queue runtime for Node.js services').showHelpAfterError();

/** Digits only: Number() would take '' for 0 and '0x10' for 16. */
const integer = (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('not a whole number');
  return n;
};

const positive = (v: string) => {
  const n = integer(v);
  if (n === 0) throw new InvalidArgumentError('must be 1 or more');
  return n;
};

const port = (v: string) => {
  const n = integer(v);
  if (n > 65_535) throw new InvalidArgumentError('not a port (0 to 65535)');
  return n;
};

interface Connection { nats?: string; cluster?: string; data?: string }

const connection = (cmd: Command) => cmd
  .addOption(new Option('--nats <url>', 'NATS server of the cluster (without it: an embedded node on --data)').env('WARREN_NATS'))
  .addOption(new Option('--cluster <name>', 'cluster name (subject prefix)').env('WARREN_CLUSTER'))
  .addOption(new Option('--data <dir>', 'data dir of the embedded node (one that `warren node` runs holds it: stop it first)').env('WARREN_DATA').default('.warren/default'));

/** The nats option: the URL, with credentials and TLS files from the environment (on the command line, `ps` would show them). */
function natsOf(url: string): NonNullable<StartOptions['nats']> {
  const { WARREN_NATS_USER: user, WARREN_NATS_PASS: pass, WARREN_NATS_TOKEN: token, WARREN_NATS_CREDS: credsFile, WARREN_NATS_CA: caFile, WARREN_NATS_CERT: certFile, WARREN_NATS_KEY: keyFile } = process.env;
  const tls = { ...(caFile ? { caFile } : {}), ...(certFile ? { certFile } : {}), ...(keyFile ? { keyFile } : {}) };
  if (!user && !token && !credsFile && Object.keys(tls).length === 0) return url;
  return { servers: url, ...(user ? { user, pass: pass ?? '' } : {}), ...(token ? { token } : {}), ...(credsFile ? { credsFile } : {}), ...(Object.keys(tls).length > 0 ? { tls } : {}) };
}

/** A short-lived node for one command: a client of the cluster, or the embedded node on its data dir. */
/**
 * Runs `run` on a node of the cluster, or on the embedded node of the data dir. Only a declare makes a
 * data dir: any other command on one that is not there (a typo) says so, rather than make an empty node.
 */
async function withNode<T>(o: Connection, run: (node: Warren) => Promise<T>, { makes = false } = {}): Promise<T> {
  const dataDir = o.data ?? '.warren/default';
  if (!o.nats && !makes && !existsSync(dataDir)) throw new Error(`no node's data at '${dataDir}' (\`warren declare\` makes it; or give --nats for a cluster)`);
  const opts: StartOptions = o.nats ? { nats: natsOf(o.nats), role: 'client', ...(o.cluster ? { cluster: o.cluster } : {}) } : { dataDir };
  const node = await Warren.start(opts);
  try {
    return await run(node);
  } finally {
    await node.stop();
  }
}

program.command('node')
  .description('run a node until SIGINT or SIGTERM (then it stops gracefully)')
  .addOption(new Option('--nats <url>', 'NATS server of the cluster (without it: embedded)').env('WARREN_NATS'))
  .addOption(new Option('--cluster <name>', 'cluster name (subject prefix)').env('WARREN_CLUSTER'))
  .option('--data <dir>', 'data dir')
  .option('--id <id>', 'node id')
  .addOption(new Option('--fsync <policy>', 'always: confirm after fdatasync; batch: within 50 ms').choices(['always', 'batch']))
  .option('--http <port>', 'serve GET /metrics (Prometheus), /healthz and /stats on this port (0: a free one); no auth', port)
  .option('--http-host <addr>', 'the address the HTTP port binds to', '127.0.0.1')
  .action(async (o: { nats?: string; cluster?: string; data?: string; id?: string; fsync?: 'always' | 'batch'; http?: number; httpHost: string }) => {
    const node = await Warren.start({
      ...(o.nats ? { nats: natsOf(o.nats) } : {}), ...(o.cluster ? { cluster: o.cluster } : {}),
      ...(o.data ? { dataDir: o.data } : {}), ...(o.id ? { nodeId: o.id } : {}), ...(o.fsync ? { fsync: o.fsync } : {}),
    });
    const monitor = o.http === undefined ? undefined : await HttpMonitor.start(node, o.http, o.httpHost).catch(async (e: unknown) => {
      await node.stop();
      throw e;
    });
    console.log(JSON.stringify({ ready: true, nodeId: node.nodeId, pid: process.pid, ...(monitor ? { http: monitor.url } : {}) }));
    // The HTTP port stays up while the node stops, its /healthz saying 503, and closes after.
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      monitor?.draining();
      node.stop().then(() => monitor?.close()).then(() => process.exit(0), fail);
    };
    // once: the same signal again ends the process at once (a second Ctrl-C); the other one waits for the stop.
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

const declare = program.command('declare').description('declare a queue or an exchange');
connection(declare.command('queue <name>'))
  .option('--mirrors <n>', 'replicas on other nodes', integer)
  .option('--max-deliveries <n>', 'then dead-lettered', integer)
  .option('--dead-letter-queue <queue>', 'where dead letters go (default <name>.dlq)')
  .option('--ttl <ms>', 'message TTL', integer)
  .option('--max-length <n>', 'length limit', integer)
  .option('--single-active-consumer', 'one consumer at a time')
  .action(async (name: string, o: Connection & { mirrors?: number; maxDeliveries?: number; deadLetterQueue?: string; ttl?: number; maxLength?: number; singleActiveConsumer?: boolean }) => {
    await withNode(o, (node) => node.declareQueue(name, {
      ...(o.mirrors !== undefined ? { mirrors: o.mirrors } : {}),
      ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
      ...(o.deadLetterQueue !== undefined ? { deadLetterQueue: o.deadLetterQueue } : {}),
      ...(o.ttl !== undefined ? { messageTtlMs: o.ttl } : {}),
      ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
      ...(o.singleActiveConsumer ? { singleActiveConsumer: true } : {}),
    }), { makes: true });
  });
connection(declare.command('exchange <name>'))
  .addOption(new Option('--type <type>', 'exchange type').choices(['direct', 'fanout', 'topic']).default('topic'))
  .action(async (name: string, o: Connection & { type: 'direct' | 'fanout' | 'topic' }) => {
    await withNode(o, (node) => node.declareExchange(name, { type: o.type }), { makes: true });
  });

connection(program.command('bind <queue> <exchange> [pattern]'))
  .description('bind a queue to an exchange')
  .action(async (queue: string, exchange: string, pattern: string | undefined, o: Connection) => {
    await withNode(o, (node) => node.bindQueue(queue, exchange, pattern ?? ''));
  });

connection(program.command('publish <target> <data>'))
  .description('publish DATA to a queue, or to an exchange with --key')
  .option('--key <routingKey>', 'TARGET is an exchange; route with this key')
  .option('--id <id>', 'message id (a retry with the same id is stored once)')
  .option('--priority <n>', 'higher first (0 to 255)', integer)
  .option('--delay <ms>', 'deliver no sooner than this', integer)
  .option('--ttl <ms>', "message TTL (the lower of it and the queue's applies)", integer)
  .action(async (target: string, data: string, o: Connection & { key?: string; id?: string; priority?: number; delay?: number; ttl?: number }) => {
    const options = {
      ...(o.id !== undefined ? { id: o.id } : {}),
      ...(o.priority !== undefined ? { priority: o.priority } : {}),
      ...(o.delay !== undefined ? { delayMs: o.delay } : {}),
      ...(o.ttl !== undefined ? { ttlMs: o.ttl } : {}),
    };
    const receipt = await withNode(o, (node) => node.publish(o.key !== undefined ? { exchange: target, routingKey: o.key } : { queue: target }, data, options));
    console.log(JSON.stringify(receipt));
  });

connection(program.command('consume <queue>'))
  .description('print messages as JSON lines and ack them')
  .option('--count <n>', 'stop after N messages', positive)
  .action(async (queue: string, o: Connection & { count?: number }) => {
    await withNode(o, async (node) => {
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      let n = 0;
      for await (const msg of node.messages(queue, { signal: ac.signal })) {
        console.log(JSON.stringify({ id: msg.id, body: msg.text(), headers: msg.headers, deliveryCount: msg.deliveryCount }));
        await msg.ack();
        if (o.count !== undefined && ++n >= o.count) break;
      }
    });
  });

connection(program.command('purge <queue>'))
  .description("remove the queue's ready and delayed messages (not the unacked ones)")
  .action(async (queue: string, o: Connection) => {
    const purged = await withNode(o, (node) => node.purgeQueue(queue));
    console.log(JSON.stringify({ queue, purged }));
  });

const del = program.command('delete').description('delete a queue (with its messages) or an exchange, with their bindings');
connection(del.command('queue <name>'))
  .option('--if-unused', 'refuse while it has consumers')
  .option('--if-empty', 'refuse while it holds messages')
  .action(async (name: string, o: Connection & { ifUnused?: boolean; ifEmpty?: boolean }) => {
    const messages = await withNode(o, (node) => node.deleteQueue(name, { ifUnused: o.ifUnused ?? false, ifEmpty: o.ifEmpty ?? false }));
    console.log(JSON.stringify({ queue: name, deleted: true, messages }));
  });
connection(del.command('exchange <name>'))
  .option('--if-unused', 'refuse while it has bindings')
  .action(async (name: string, o: Connection & { ifUnused?: boolean }) => {
    await withNode(o, (node) => node.deleteExchange(name, { ifUnused: o.ifUnused ?? false }));
    console.log(JSON.stringify({ exchange: name, deleted: true }));
  });

connection(program.command('stats'))
  .description('queues and nodes')
  .option('--json', 'print JSON')
  .action(async (o: Connection & { json?: boolean }) => {
    const stats = await withNode(o, async (node) => node.clusterStats());
    if (o.json) return console.log(JSON.stringify(stats, null, 2));
    console.table(stats.queues.map((q) => ({ queue: q.name, ready: q.ready, unacked: q.unacked, consumers: q.consumers, leader: q.leader, published: q.published, acked: q.acked, deadLettered: q.deadLettered })));
    console.table(stats.nodes);
  });

/** The message, without a stack: the user's mistake or the cluster's state, not a bug to debug. */
function fail(e: unknown): never {
  console.error(`warren: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}

program.parseAsync().catch(fail);
