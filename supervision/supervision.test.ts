import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Ref } from 'nact';
import { ActorSystem, type ActorRef, type Behavior, type CrashHandler, type Reply } from '../actors/actor.ts';
import { propertyParams } from '../property-tests/params.ts';
import { until } from '../node/testing.ts';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { recordRestart, type RestartHistory } from './intensity.ts';
import { allForOne, crashHandler, oneForOne, type Directive, type Fault, type Strategy } from './strategy.ts';

describe('backoffDelay', () => {
  const noJitter: BackoffOptions = { minMs: 10, maxMs: 100, jitter: 0 };

  it('doubles with every attempt, from minMs', () => {
    assert.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, noJitter)), [10, 20, 40, 80]);
  });

  it('is capped at maxMs, however many attempts', () => {
    assert.equal(backoffDelay(5, noJitter), 100);
    assert.equal(backoffDelay(60, noJitter), 100);
    assert.equal(backoffDelay(5_000, noJitter), 100, '2 ** 4999 overflows to Infinity: still capped');
  });

  it('treats attempt 0 (or less) as the first', () => {
    assert.equal(backoffDelay(0, noJitter), 10);
    assert.equal(backoffDelay(-3, noJitter), 10);
  });

  it('jitter takes off at most its fraction of the ceiling', () => {
    const opts: BackoffOptions = { minMs: 100, maxMs: 1_000, jitter: 0.5 };
    assert.equal(backoffDelay(2, opts, () => 0), 200);
    assert.equal(backoffDelay(2, opts, () => 0.5), 150);
    assert.equal(backoffDelay(2, opts, () => 0.999_999), 100);
  });

  it('stays within [ceiling * (1 - jitter), ceiling] for any random draw', () => {
    const opts = fc.record({
      minMs: fc.integer({ min: 1, max: 1_000 }),
      extra: fc.integer({ min: 0, max: 100_000 }),
      jitter: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(opts, fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), ({ minMs, extra, jitter }, attempt, r) => {
        const backoff = { minMs, maxMs: minMs + extra, jitter };
        const ceiling = Math.min(backoff.maxMs, minMs * 2 ** (attempt - 1));
        const d = backoffDelay(attempt, backoff, () => r);
        // Math.round may move the result by half a millisecond either way.
        assert.ok(d >= Math.floor(ceiling * (1 - jitter)) && d <= ceiling, `delay ${d} outside [${ceiling * (1 - jitter)}, ${ceiling}]`);
      }),
      { ...propertyParams('backoff jitter range', 300), includeErrorInReport: true },
    );
  });
});

describe('recordRestart', () => {
  const opts = { maxRestarts: 3, withinMs: 1_000 };

  function restarts(times: readonly number[]): { history: RestartHistory; exceeded: boolean }[] {
    let history: RestartHistory = [];
    return times.map((t) => {
      const r = recordRestart(history, t, opts);
      history = r.history;
      return r;
    });
  }

  it('allows maxRestarts within the window and is exceeded by the next one', () => {
    assert.deepEqual(restarts([0, 10, 20, 30]).map((r) => r.exceeded), [false, false, false, true]);
  });

  it('forgets restarts older than the window', () => {
    const rs = restarts([0, 10, 20, 1_010]);
    // t=0 and t=10 are 1010 and 1000 ms old: out of the window; t=20 is still in it.
    assert.deepEqual(rs[3], { history: [20, 1_010], exceeded: false });
  });

  it('stays exceeded while the burst is in the window, and recovers after it', () => {
    const rs = restarts([0, 1, 2, 3, 4, 2_000]);
    assert.deepEqual(rs.map((r) => r.exceeded), [false, false, false, true, true, false]);
    assert.deepEqual(rs[5]!.history, [2_000]);
  });
});

// --- crashHandler, through real nact actors ---------------------------------------------------------

type WorkerMsg =
  | { readonly type: 'inc' }
  | { readonly type: 'boom'; readonly error: Error }
  | { readonly type: 'get'; readonly reply: Reply<number> };

/** Restarts in tests wait at most a millisecond. */
const tiny: BackoffOptions = { minMs: 1, maxMs: 1, jitter: 0 };

interface Worker {
  readonly ref: ActorRef<WorkerMsg>;
  /** How many times init ran: 1 at spawn, +1 per restart. */
  readonly inits: number;
  /** afterStop has run. */
  readonly stopped: boolean;
}

function spawnWorker(system: ActorSystem, parent: Ref<unknown>, name: string, onCrash: CrashHandler<WorkerMsg>): Worker {
  const seen = { inits: 0, stopped: false };
  const behavior: Behavior<{ count: number }, WorkerMsg> = {
    init: () => (seen.inits++, { count: 0 }),
    receive(state, msg) {
      switch (msg.type) {
        case 'inc': return { count: state.count + 1 };
        case 'boom': throw msg.error;
        case 'get': msg.reply(state.count); return state;
      }
    },
    onCrash,
    afterStop: () => void (seen.stopped = true),
  };
  const ref = system.spawn(parent, name, behavior);
  return { ref, get inits() { return seen.inits; }, get stopped() { return seen.stopped; } };
}

const inc: WorkerMsg = { type: 'inc' };
const boom = (what = 'boom'): WorkerMsg => ({ type: 'boom', error: new Error(what) });
const count = (w: Worker) => w.ref.ask<number>((reply) => ({ type: 'get', reply }), 1_000);

describe('crashHandler on nact actors', () => {
  let system: ActorSystem;
  let faults: Fault[];
  const record = (f: Fault) => void faults.push(f);

  beforeEach(() => {
    system = new ActorSystem('supervision-test');
    faults = [];
  });
  afterEach(() => system.stop());

  const selfDeciding = (decide: Directive, extra: Partial<Omit<Strategy, 'kind'>> = {}) =>
    crashHandler<WorkerMsg>(oneForOne({ decide: () => decide, backoff: tiny, ...extra }), record);

  it("'restart' runs init again and goes on with the rest of the mailbox", async () => {
    const w = spawnWorker(system, system.root, 'w', selfDeciding('restart'));
    for (const m of [inc, inc, boom(), inc, inc]) w.ref.tell(m);
    assert.equal(await count(w), 2, 'the two incs before the crash were lost with the state');
    assert.equal(w.inits, 2);
    assert.deepEqual(faults.map((f) => [f.directive, (f.error as Error).message]), [['restart', 'boom']]);
    assert.equal(faults[0]!.child, undefined, 'the actor decided about itself');
    assert.equal(w.ref.alive, true);
  });

  it("'resume' keeps the state and goes on", async () => {
    const w = spawnWorker(system, system.root, 'w', selfDeciding('resume'));
    for (const m of [inc, inc, boom(), inc]) w.ref.tell(m);
    assert.equal(await count(w), 3);
    assert.equal(w.inits, 1);
    assert.deepEqual(faults.map((f) => f.directive), ['resume']);
  });

  it("'stop' stops the actor: afterStop runs, the ref is dead, the rest of the mailbox is dead letters", async () => {
    const w = spawnWorker(system, system.root, 'w', selfDeciding('stop'));
    for (const m of [inc, boom(), inc, inc]) w.ref.tell(m);
    await until(() => w.stopped, 'afterStop');
    assert.equal(w.ref.alive, false);
    assert.equal(system.deadLetters.count, 2, 'the two incs behind the crash');
    assert.deepEqual(faults.map((f) => f.directive), ['stop']);
  });

  it('past its intensity a restart becomes strategy.exhausted: escalate reaches the parent, which sees the fault', async () => {
    const parent = system.supervisor(system.root, 'parent', crashHandler(oneForOne({ decide: () => 'stop', backoff: tiny }), record));
    const w = spawnWorker(system, parent, 'w', selfDeciding('restart', { intensity: { maxRestarts: 2, withinMs: 60_000 }, exhausted: 'escalate' }));
    for (const m of [boom('1'), boom('2'), inc, boom('3'), inc]) w.ref.tell(m);
    await until(() => w.stopped, 'the parent to stop the child');
    assert.deepEqual(
      faults.map((f) => [f.directive, (f.error as Error).message, f.child]),
      [
        ['restart', '1', undefined],
        ['restart', '2', undefined],
        ['escalate', '3', undefined],
        // The parent's handler, deciding about the child that escalated.
        ['stop', '3', 'w'],
      ],
    );
    assert.equal(w.inits, 3);
    assert.equal(w.ref.alive, false);
  });

  it("exhausted: 'stop' stops the actor itself once intensity is exceeded", async () => {
    const w = spawnWorker(system, system.root, 'w', selfDeciding('restart', { intensity: { maxRestarts: 1, withinMs: 60_000 }, exhausted: 'stop' }));
    for (const m of [boom('1'), boom('2'), inc]) w.ref.tell(m);
    await until(() => w.stopped, 'afterStop');
    assert.deepEqual(faults.map((f) => [f.directive, f.exhausted]), [['restart', false], ['stop', true]]);
  });

  /** Three children that escalate every crash to a parent using `strategy`; the middle one crashes. */
  async function siblings(strategy: Strategy): Promise<number[]> {
    const parent = system.supervisor(system.root, 'parent', crashHandler(strategy, record));
    const escalate = crashHandler<WorkerMsg>(oneForOne({ decide: () => 'escalate' }));
    const ws = ['a', 'b', 'c'].map((name) => spawnWorker(system, parent, name, escalate));
    for (const w of ws) w.ref.tell(inc);
    ws[1]!.ref.tell(boom());
    ws[1]!.ref.tell(inc);
    // The crashed child goes on with its mailbox after the restart: inc after boom counts 1 from scratch.
    assert.equal(await count(ws[1]!), 1);
    assert.deepEqual(faults.map((f) => [f.directive, f.child]), [['restart', 'b']]);
    return ws.map((w) => w.inits);
  }

  it('one-for-one restarts only the failing child', async () => {
    assert.deepEqual(await siblings(oneForOne({ backoff: tiny })), [1, 2, 1]);
  });

  it('one-for-one counts restart intensity per child: a crashing sibling does not use up the others\' restarts', async () => {
    const parent = system.supervisor(system.root, 'parent', crashHandler(oneForOne({ backoff: tiny, intensity: { maxRestarts: 1, withinMs: 60_000 }, exhausted: 'stop' }), record));
    const escalate = crashHandler<WorkerMsg>(oneForOne({ decide: () => 'escalate' }));
    const [a, b] = ['a', 'b'].map((name) => spawnWorker(system, parent, name, escalate));
    a!.ref.tell(boom('1'));
    a!.ref.tell(boom('2'));
    await until(() => a!.stopped, 'a stopped after its second crash');
    b!.ref.tell(boom('3'));
    b!.ref.tell(inc);
    assert.equal(await count(b!), 1, 'b was restarted, not stopped');
    assert.deepEqual(faults.map((f) => [f.directive, f.child]), [['restart', 'a'], ['stop', 'a'], ['restart', 'b']]);
  });

  it('all-for-one restarts every sibling of the failing child', async () => {
    assert.deepEqual(await siblings(allForOne({ backoff: tiny })), [2, 2, 2]);
  });
});
