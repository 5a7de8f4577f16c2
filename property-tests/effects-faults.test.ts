// Exactly-once effects with real processes: a durable embedded node whose consumer process is killed
// with SIGKILL before the effect, between the effect and its commit, or between the commit and the ack,
// then started again on the same data dir, until the queue is drained. With exactlyOnce and PostgreSQL
// every message's effect happens once; the same schedules without it show duplicates.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { Warren } from '../index.ts';
import { propertyParams } from './params.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const MESSAGES = 4;
type At = 'before-effect' | 'after-effect' | 'after-commit';
const schedule = fc.array(fc.record({ index: fc.nat({ max: MESSAGES - 1 }), at: fc.constantFrom<At>('before-effect', 'after-effect', 'after-commit') }), { minLength: 1, maxLength: 2 });

function worker(args: object): Promise<'done' | 'killed'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'property-tests/effect-worker.ts', JSON.stringify(args)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => { out += c; });
    child.stderr.setEncoding('utf8').on('data', (c: string) => { err += c; });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0 && out.includes('done')) resolve('done');
      else reject(new Error(`worker exited with ${code}: ${err}`));
    });
  });
}

describe('exactly-once effects under SIGKILL (PostgreSQL on 127.0.0.1:5432)', () => {
  const pool = new pg.Pool({ host: '127.0.0.1', user: 'postgres', database: 'test', max: 2 });
  const suffix = `${process.pid}_${Date.now() % 100_000}`;
  let round = 0;
  const totals = { schedules: 0, faults: { 'before-effect': 0, 'after-effect': 0, 'after-commit': 0 } as Record<At, number>, kills: 0, duplicatesWith: 0, duplicatesWithout: 0, lost: 0 };
  after(async () => {
    console.log(`report: schedules=${totals.schedules} attempted=${totals.schedules * MESSAGES} kills=${totals.kills} faults=${JSON.stringify(totals.faults)} lost=${totals.lost} duplicate effects=${totals.duplicatesWith} (without exactlyOnce: ${totals.duplicatesWithout})`);
    await pool.end();
  });

  /**
   * Publishes MESSAGES durable messages, then runs workers (one fault each, in order) until drained;
   * returns effects per message and the faults that fired (a kill).
   */
  async function run(withExactlyOnce: boolean, faults: readonly { index: number; at: At }[]): Promise<{ counts: number[]; fired: At[] }> {
    const id = `${suffix}_${round++}`;
    const effectTable = `warren_fx_${id}`;
    const inboxTable = `warren_ib_${id}`;
    const dataDir = await mkdtemp(path.join(tmpdir(), 'warren-fx-'));
    await pool.query(`CREATE TABLE ${effectTable} (message text NOT NULL)`);
    try {
      const node = await Warren.start({ dataDir });
      await node.declareQueue('jobs');
      for (let i = 0; i < MESSAGES; i++) await node.publish({ queue: 'jobs' }, String(i), { id: `job-${i}` });
      await node.stop();
      const pending = [...faults];
      const fired: At[] = [];
      for (let attempt = 0; attempt < 20; attempt++) {
        const result = await worker({ dataDir, effectTable, inboxTable, exactlyOnce: withExactlyOnce, ...(pending[0] ? { fault: pending[0] } : {}) });
        if (result === 'killed') { totals.kills++; fired.push(pending.shift()!.at); continue; }
        // A fault aimed at a message already handled never fires: the worker drained the queue.
        break;
      }
      const { rows } = await pool.query<{ message: string; n: string }>(`SELECT message, count(*) AS n FROM ${effectTable} GROUP BY message`);
      const counts = Array.from({ length: MESSAGES }, (_, i) => Number(rows.find((r) => r.message === String(i))?.n ?? 0));
      return { counts, fired };
    } finally {
      await pool.query(`DROP TABLE IF EXISTS ${effectTable}`);
      await pool.query(`DROP TABLE IF EXISTS ${inboxTable}`);
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it('with exactlyOnce: every effect exactly once, whatever was killed where', async () => {
    await fc.assert(fc.asyncProperty(schedule, async (faults) => {
      totals.schedules++;
      for (const f of faults) totals.faults[f.at]++;
      const { counts } = await run(true, faults);
      totals.lost += counts.filter((n) => n === 0).length;
      totals.duplicatesWith += counts.filter((n) => n > 1).length;
      assert.deepEqual(counts, Array(MESSAGES).fill(1), `effects per message for faults ${JSON.stringify(faults)}`);
    }), { ...propertyParams('exactly-once under SIGKILL', 100), includeErrorInReport: true });
  });

  it('without exactlyOnce the same schedules repeat effects: every kill after an effect repeats one', async () => {
    await fc.assert(fc.asyncProperty(schedule, async (faults) => {
      const { counts, fired } = await run(false, faults);
      totals.duplicatesWithout += counts.filter((n) => n > 1).length;
      const afterEffect = fired.filter((at) => at !== 'before-effect').length;
      assert.ok(counts.every((n) => n >= 1), 'nothing lost either way');
      // At least: an ack not yet on disk at the kill can repeat one more.
      assert.ok(counts.reduce((a, b) => a + b, 0) - MESSAGES >= afterEffect, `repeated effects ${JSON.stringify(counts)} for kills ${JSON.stringify(fired)}`);
    }), { ...propertyParams('without exactlyOnce under SIGKILL', 20), includeErrorInReport: true });
    assert.ok(totals.duplicatesWithout > 0, 'the mechanism matters');
  });
});
