// The consumer process of effects-faults.test.ts: an embedded durable node that drains its queue with
// an effect per message (a row in PostgreSQL), with or without exactlyOnce, and kills itself with
// SIGKILL at the fault point it is given, as a crash there would. Prints 'done' when the queue is empty.
// Usage: node --import tsx property-tests/effect-worker.ts '<json options>'
import pg from 'pg';
import { z } from 'zod';
import { exactlyOnce, PostgresInbox, Warren, type Message } from '../index.ts';

const o = z.strictObject({
  dataDir: z.string(),
  effectTable: z.string().regex(/^[a-z_0-9]+$/),
  inboxTable: z.string().regex(/^[a-z_0-9]+$/),
  exactlyOnce: z.boolean(),
  /** Message index whose first handling in this process crashes, and where. */
  fault: z.strictObject({ index: z.number().int(), at: z.enum(['before-effect', 'after-effect', 'after-commit']) }).optional(),
}).parse(JSON.parse(process.argv[2] ?? '{}'));

const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 });
const node = await Warren.start({ dataDir: o.dataDir });
await node.declareQueue('jobs');
const crashAt = (m: Message, at: string) => {
  if (o.fault && o.fault.at === at && Number(m.text()) === o.fault.index) process.kill(process.pid, 'SIGKILL');
};
const effect = async (m: Message, db: pg.PoolClient | pg.Pool) => {
  crashAt(m, 'before-effect');
  await db.query(`INSERT INTO ${o.effectTable} (message) VALUES ($1)`, [m.text()]);
  crashAt(m, 'after-effect');
};
const handler = o.exactlyOnce
  ? exactlyOnce(new PostgresInbox(pool, o.inboxTable), effect, (outcome, m) => { if (outcome === 'applied') crashAt(m, 'after-commit'); })
  : async (m: Message) => { await effect(m, pool); crashAt(m, 'after-commit'); await m.ack(); };
await node.consume('jobs', handler, { ack: 'manual', prefetch: 1 });
while (node.stats().queues[0]!.ready + node.stats().queues[0]!.unacked > 0) await new Promise((r) => setTimeout(r, 10));
await node.stop();
await pool.end();
process.stdout.write('done\n');
