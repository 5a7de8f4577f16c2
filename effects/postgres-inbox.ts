// The PostgreSQL inbox, exact: the delivery's inbox row and the handler's effect commit in one
// transaction, so the effect happens once even if the process dies between the commit and the ack.
//
// Fencing: one row per (queue, message id) holds the highest delivery count that started and whether
// the message is done. A delivery first claims the row, raising the count in a statement of its own,
// so that its start is seen by an older delivery even if it then fails. Then, in the effect's
// transaction, it marks the row done only if no one did and no newer delivery has claimed it. That
// UPDATE takes the row lock: deliveries of one message wait behind it, and each re-reads the row once
// the one before it commits or rolls back. So an older delivery that commits after a newer one
// started is refused, and of two deliveries racing, one commits the effect and the other sees it done.
import type pg from 'pg';
import type { DeliveryKey, InboxOutcome, InboxStore } from './inbox-store.ts';

export class PostgresInbox implements InboxStore<pg.PoolClient> {
  private ready: Promise<void> | undefined;

  constructor(private readonly pool: pg.Pool, private readonly table = 'warren_inbox') {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) throw new Error(`not a plain table name: ${table}`);
  }

  async run(key: DeliveryKey, effect: (tx: pg.PoolClient) => Promise<void>): Promise<InboxOutcome> {
    await this.createTable();
    const client = await this.pool.connect();
    try {
      const outcome = await this.runWith(client, key, effect);
      client.release();
      return outcome;
    } catch (err) {
      // A connection that cannot even roll back is broken: the pool must not hand it out again.
      const broken = await client.query('ROLLBACK').then(() => undefined, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
      client.release(broken);
      throw err;
    }
  }

  private async runWith(client: pg.PoolClient, key: DeliveryKey, effect: (tx: pg.PoolClient) => Promise<void>): Promise<InboxOutcome> {
    const t = this.table;
    const row = [key.queue, key.id];
    await client.query(
      `INSERT INTO ${t} (queue, message_id, delivery_count, done) VALUES ($1, $2, $3, false)
       ON CONFLICT (queue, message_id) DO UPDATE SET delivery_count = GREATEST(${t}.delivery_count, EXCLUDED.delivery_count)`,
      [...row, key.deliveryCount],
    );
    await client.query('BEGIN');
    const taken = await client.query(
      `UPDATE ${t} SET done = true WHERE queue = $1 AND message_id = $2 AND NOT done AND delivery_count <= $3`,
      [...row, key.deliveryCount],
    );
    if (taken.rowCount === 0) {
      const { rows } = await client.query<{ done: boolean }>(`SELECT done FROM ${t} WHERE queue = $1 AND message_id = $2`, row);
      await client.query('ROLLBACK');
      return rows[0]?.done ? 'duplicate' : 'fenced';
    }
    await effect(client);
    // An effect that caught an SQL error left the transaction aborted: COMMIT then rolls back, quietly.
    const { command } = await client.query('COMMIT');
    if (command !== 'COMMIT') throw new Error(`inbox ${t}: the effect's transaction was aborted (an SQL error inside the effect was caught); nothing was committed`);
    return 'applied';
  }

  /** Once; a failure (two processes creating the table at once) is retried by the next delivery. */
  private createTable(): Promise<void> {
    this.ready ??= this.pool.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
      queue text NOT NULL, message_id text NOT NULL, delivery_count integer NOT NULL, done boolean NOT NULL,
      PRIMARY KEY (queue, message_id))`).then(() => {}, (err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }
}

export const pgStore = (pool: pg.Pool, options: { readonly table?: string } = {}): PostgresInbox => new PostgresInbox(pool, options.table);
