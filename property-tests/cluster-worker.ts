// A Warren node process for the multi-process tests, in one role. It reports on stdout, one line per
// event, as soon as the event happens (pipes are written synchronously on Linux):
//   ready                       the node is up (and its queue declared, for 'serve')
//   confirmed <id>              (produce) the publish of <id> was confirmed
//   got <id> <deliveryCount>    (consume) a delivery
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
}).parse(JSON.parse(process.argv[2] ?? '{}'));

const say = (line: string) => process.stdout.write(`${line}\n`);
const node = await Warren.start({ nats: opts.nats, cluster: opts.cluster, nodeId: opts.id, dataDir: opts.data });
process.once('SIGTERM', () => void node.stop().then(() => process.exit(0)));

if (opts.role === 'serve') {
  await node.declareQueue(opts.queue);
  say('ready');
} else if (opts.role === 'consume') {
  await node.consume(opts.queue, async (m) => {
    say(`got ${m.id} ${m.deliveryCount}`);
    if (!opts.hold) await m.ack();
  }, { ack: 'manual', prefetch: opts.prefetch });
  say('ready');
} else {
  say('ready');
  const inFlight = new Set<Promise<void>>();
  for (let i = opts.from; i < opts.from + opts.count; i++) {
    const id = `m-${String(i).padStart(6, '0')}`;
    const p: Promise<void> = node.publish({ queue: opts.queue }, `body of ${id}`, { id }).then(() => { say(`confirmed ${id}`); inFlight.delete(p); });
    inFlight.add(p);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await node.stop();
  process.exit(0);
}
