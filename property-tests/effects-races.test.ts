// Races of exactly-once deliveries: several deliveries of the same messages, stale ones and repeated
// counts included, whose starts, effects and settlements fast-check's scheduler interleaves. Against
// the memory inbox (LocalInbox's fence and turns, which the file inbox shares) and against PostgreSQL
// on 127.0.0.1:5432, where every statement of every delivery is a step of the schedule and the
// deliveries race on connections of their own, so the row locks and the fence meet real interleavings.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pg from 'pg';
import type { DeliveryKey, InboxOutcome } from '../effects/inbox-store.ts';
import { memoryStore } from '../effects/memory-inbox.ts';
import { PostgresInbox } from '../effects/postgres-inbox.ts';
import { propertyParams } from './params.ts';

interface Delivery {
  readonly id: string;
  readonly deliveryCount: number;
  /** Its effect throws after writing into the transaction: nothing may be committed or recorded. */
  readonly fails: boolean;
}

const deliveries = fc.array(
  fc.record({ id: fc.constantFrom('a', 'b'), deliveryCount: fc.integer({ min: 1, max: 4 }), fails: fc.boolean() }),
  { minLength: 1, maxLength: 8 },
);

type Result = InboxOutcome | 'failed';

/** What a delivery's effect does: `begin` checks the fence and yields to the scheduler, then the write. */
interface Effect {
  readonly name: string;
  readonly fails: boolean;
  begin(): Promise<void>;
}

async function perform(e: Effect, write: (name: string) => Promise<unknown>): Promise<void> {
  await e.begin();
  await write(e.name);
  if (e.fails) throw new Error(`effect of ${e.name} fails`);
}

/** One schedule's inbox. */
interface RaceInbox {
  run(key: DeliveryKey, effect: Effect): Promise<InboxOutcome>;
  /** The names of the effects that took hold. */
  committed(): Promise<readonly string[]>;
}

interface RaceTarget {
  readonly name: string;
  readonly runs: number;
  /**
   * A fresh inbox for one schedule. `claimed` is told once a delivery's claim holds in the store
   * (its start, as far as the fence goes): from then on, no older delivery may begin its effect.
   */
  open(s: fc.Scheduler, claimed: (key: DeliveryKey) => void): Promise<RaceInbox>;
}

async function raceProperty(target: RaceTarget): Promise<void> {
  const totals: Record<Result, number> & { schedules: number; deliveries: number } = { schedules: 0, deliveries: 0, applied: 0, duplicate: 0, fenced: 0, failed: 0 };
  const params = propertyParams<[fc.Scheduler, Delivery[]]>(`exactlyOnce races (${target.name})`, target.runs);
  try {
    await fc.assert(fc.asyncProperty(fc.scheduler(), deliveries, async (s, plan) => {
      /** Per message, the highest delivery count whose claim holds: the fence. */
      const newest = new Map<string, number>();
      const inbox = await target.open(s, (key) => newest.set(key.id, Math.max(newest.get(key.id) ?? 0, key.deliveryCount)));
      const staleEffects: string[] = [];
      const names = plan.map((d, i) => `${d.id}#${i} (count ${d.deliveryCount})`);
      const settled = plan.map((d, i) => s.schedule(Promise.resolve(), `start ${names[i]}`).then(() => {
        const outcome = inbox.run({ queue: 'q', id: d.id, deliveryCount: d.deliveryCount }, {
          name: names[i]!,
          fails: d.fails,
          begin: async () => {
            if (newest.get(d.id)! > d.deliveryCount) staleEffects.push(names[i]!);
            await s.schedule(Promise.resolve(), `effect of ${names[i]}`);
          },
        });
        // Scheduled once settled: a scheduled task that waited on other scheduled tasks would deadlock.
        return outcome.catch((): Result => 'failed').then((r) => s.schedule(Promise.resolve(r), `settle ${names[i]}`));
      }));
      const results: Result[] = await s.waitFor(Promise.all(settled));

      totals.schedules++;
      totals.deliveries += plan.length;
      for (const r of results) totals[r]++;
      assert.deepEqual(staleEffects, [], 'no effect begins once a newer delivery has claimed its message');
      const applied = names.filter((_, i) => results[i] === 'applied');
      assert.deepEqual([...await inbox.committed()].sort(), [...applied].sort(), 'the committed effects are exactly the applied deliveries');
      for (const id of new Set(plan.map((d) => d.id))) {
        const mine = plan.flatMap((d, i) => (d.id === id ? [{ ...d, result: results[i]! }] : []));
        const appliedHere = mine.filter((d) => d.result === 'applied').length;
        assert.ok(appliedHere <= 1, `at most one 'applied' for ${id}`);
        if (mine.some((d) => d.result === 'duplicate')) assert.equal(appliedHere, 1, `a duplicate of ${id} follows its application`);
        const top = Math.max(...mine.map((d) => d.deliveryCount));
        if (mine.some((d) => d.deliveryCount === top && !d.fails)) assert.equal(appliedHere, 1, `the newest delivery of ${id} leaves it applied`);
        // The store's own record agrees with the committed effects: recorded iff applied.
        const probe = s.waitFor(inbox.run({ queue: 'q', id, deliveryCount: top + 1 }, { name: 'probe', fails: false, begin: async () => {} }));
        assert.equal(await probe, appliedHere === 1 ? 'duplicate' : 'applied', `${id} recorded iff its effect was committed`);
      }
    }), params);
  } finally {
    console.log(`report effects races (${target.name}): schedules=${totals.schedules} deliveries=${totals.deliveries} applied=${totals.applied} ` +
      `duplicate=${totals.duplicate} fenced=${totals.fenced} failed effects=${totals.failed} seed=${params.seed}`);
  }
}

describe('exactlyOnce races (memory inbox, in one process)', () => {
  it('one effect per message, committed with its record, never by a delivery older than one started', async () => {
    await raceProperty({
      name: 'memory',
      runs: 200,
      async open(_s, claimed) {
        const inbox = memoryStore<string>();
        return {
          // LocalInbox claims at the call.
          run: (key, e) => { claimed(key); return inbox.run(key, (tx) => perform(e, async (name) => tx.push(name))); },
          committed: async () => inbox.committed,
        };
      },
    });
  });
});

describe('exactlyOnce races (PostgreSQL on 127.0.0.1:5432, a connection per delivery)', () => {
  const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 10 });
  const suffix = `${process.pid}_${Date.now() % 100_000}`;
  const inboxTable = `warren_race_ib_${suffix}`;
  const effectTable = `warren_race_fx_${suffix}`;
  after(async () => {
    await pool.query(`DROP TABLE IF EXISTS ${inboxTable}`);
    await pool.query(`DROP TABLE IF EXISTS ${effectTable}`);
    await pool.end();
  });

  /** The schedule in progress: every statement an inbox sends waits for its turn in it. */
  let turn: { readonly s: fc.Scheduler; readonly claimed: (key: DeliveryKey) => void } | undefined;
  const inboxStatement = (text: string) => text.includes(inboxTable) || /^(BEGIN|COMMIT|ROLLBACK)$/.test(text.trim());
  pool.on('connect', (client) => {
    type Query = (...args: unknown[]) => unknown;
    const query = client.query.bind(client) as Query;
    const inTurn: Query = (...args) => {
      const [text, values] = args as [string, unknown[] | undefined];
      // The pool's own queries (with a callback) and the test's reads go straight through.
      const now = turn;
      if (now === undefined || typeof args.at(-1) === 'function' || typeof text !== 'string' || !inboxStatement(text)) return query(...args);
      return now.s.schedule(Promise.resolve(), `${text.trim().split(/\s/)[0]} ${JSON.stringify(values ?? [])}`).then(async () => {
        const result = await (query(text, values) as Promise<pg.QueryResult>);
        // The claim: INSERT ... ON CONFLICT raising the delivery count (ids are '<schedule>/<id>').
        if (text.trim().startsWith('INSERT')) now.claimed({ queue: String(values![0]), id: String(values![1]).split('/')[1]!, deliveryCount: Number(values![2]) });
        return result;
      });
    };
    (client as unknown as { query: Query }).query = inTurn;
  });

  it('one effect per message, committed with its record, never by a delivery older than one that claimed it', async () => {
    await pool.query(`CREATE TABLE IF NOT EXISTS ${effectTable} (schedule integer NOT NULL, name text NOT NULL)`);
    let schedules = 0;
    await raceProperty({
      name: 'PostgreSQL',
      runs: 150,
      async open(s, claimed) {
        const schedule = ++schedules;
        turn = { s, claimed };
        const inbox = new PostgresInbox(pool, inboxTable);
        return {
          // The message ids carry the schedule, so that one schedule's rows never meet the next's.
          run: (key, e) => inbox.run({ ...key, id: `${schedule}/${key.id}` }, (tx) => perform(e, (name) => tx.query(`INSERT INTO ${effectTable} (schedule, name) VALUES ($1, $2)`, [schedule, name]))),
          committed: async () => (await pool.query<{ name: string }>(`SELECT name FROM ${effectTable} WHERE schedule = $1`, [schedule])).rows.map((r) => r.name),
        };
      },
    }).finally(() => { turn = undefined; });
  });
});
