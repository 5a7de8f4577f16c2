// A Warren node process for the multi-process tests, in one role. It reports on stdout, one line per
// event, as soon as the event happens (pipes are written synchronously on Linux):
//   ready                       the node is up (and its queue declared, for 'serve')
//   confirmed <id>              (produce) the publish of <id> was confirmed
//   got <id> <deliveryCount> <redelivered 0|1>    (consume) a delivery
//   refused <id>                (produce) given up on after retryForMs
//   attempted <n>               (produce) the last line: how many ids it published
// Usage: node --import tsx property-tests/cluster-worker.ts '<json options>'
import { z } from 'zod';
import { Warren } from '../index.ts';

const opts = z.strictObject({
  role: z.enum(['serve', 'produce', 'consume']),
  nats: z.string(),
  cluster: z.string(),
  id: z.string(),
  data: z.string(),
  queue: z.string(),
  from: z.number().int().default(0),
  count: z.number().int().default(0),
  /** consume: keep messages unacked (to be taken back when this process dies). */
  hold: z.boolean().default(false),
  prefetch: z.number().int().positive().default(64),
  /** Join as a client node: holds no queues and no replicas. */
  client: z.boolean().default(false),
  /** produce: publishes in flight at most. */
  inFlight: z.number().int().positive().default(256),
  /** produce: retry a refused publish with the same id (dedup keeps it single) until this deadline. */
  retryForMs: z.number().int().nonnegative().default(0),
  /** produce: pause between publishes, for a steady stream that outlasts a test's faults. */
  paceMs: z.number().int().nonnegative().default(0),
  /** serve: declare the queue with this many mirrors (this node leads it). */
  mirrors: z.number().int().nonnegative().default(0),
}).parse(JSON.parse(process.argv[2] ?? '{}'));

const say = (line: string) => process.stdout.write(`${line}\n`);
const node = await Warren.start({ nats: opts.nats, cluster: opts.cluster, nodeId: opts.id, dataDir: opts.data, role: opts.client ? 'client' : 'server' });
/** A producer stops publishing on SIGTERM and reports before it exits; other roles just stop. */
let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
  if (opts.role !== 'produce') void node.stop().then(() => process.exit(0));
});

/** A publish that is refused (no leader yet, too few in-sync mirrors) is retried under the same id. */
async function publish(id: string): Promise<void> {
  const deadline = Date.now() + opts.retryForMs;
  for (;;) {
    try {
      await node.publish({ queue: opts.queue }, `body of ${id}`, { id });
      return;
    } catch (err) {
      if (Date.now() > deadline || stopping) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

if (opts.role === 'serve') {
  if (opts.queue !== '') await node.declareQueue(opts.queue, { mirrors: opts.mirrors });
  say('ready');
} else if (opts.role === 'consume') {
  await node.consume(opts.queue, async (m) => {
    say(`got ${m.id} ${m.deliveryCount} ${m.redelivered ? 1 : 0}`);
    if (!opts.hold) await m.ack();
  }, { ack: 'manual', prefetch: opts.prefetch });
  say('ready');
} else {
  say('ready');
  const inFlight = new Set<Promise<void>>();
  let attempted = 0;
  for (let i = opts.from; i < opts.from + opts.count && !stopping; i++) {
    const id = `m-${String(i).padStart(6, '0')}`;
    const p: Promise<void> = publish(id).then(() => { say(`confirmed ${id}`); }, () => { say(`refused ${id}`); }).finally(() => { inFlight.delete(p); });
    inFlight.add(p);
    attempted++;
    if (inFlight.size >= opts.inFlight) await Promise.race(inFlight);
    if (opts.paceMs > 0) await new Promise((r) => setTimeout(r, opts.paceMs));
  }
  await Promise.all(inFlight);
  say(`attempted ${attempted}`);
  await node.stop();
  process.exit(0);
}
