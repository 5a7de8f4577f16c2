import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ActorSystem, type ActorRef, type Behavior, type Reply } from './actor.ts';
import type { ActorDeadLetter } from './dead-letters.ts';
import type { MailboxOptions } from './mailbox.ts';
import { MailboxFull, Stopped, WarrenError } from '../node/errors.ts';
import { until } from '../node/testing.ts';

type Msg =
  | { readonly type: 'add'; readonly n: number }
  | { readonly type: 'get'; readonly reply: Reply<number> }
  /** Parks the actor until the gate opens: the only way to keep messages waiting in its mailbox. */
  | { readonly type: 'hold'; readonly gate: Promise<void> }
  /** Never answers: for the ask timeout. */
  | { readonly type: 'ignore'; readonly reply: Reply<number> };

interface Probe {
  readonly seen: Msg[];
  readonly stops: { state: number; leftover: readonly Msg[] }[];
}

function adder(probe: Probe, mailbox?: MailboxOptions): Behavior<number, Msg> {
  return {
    init: () => 0,
    async receive(sum, msg) {
      probe.seen.push(msg);
      switch (msg.type) {
        case 'add': return sum + msg.n;
        case 'get': msg.reply(sum); return sum;
        case 'hold': await msg.gate; return sum;
        case 'ignore': return sum;
      }
    },
    afterStop: (state, leftover) => void probe.stops.push({ state, leftover }),
    ...(mailbox ? { mailbox } : {}),
  };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

const add = (n: number): Msg => ({ type: 'add', n });
const get = (ref: ActorRef<Msg>) => ref.ask<number>((reply) => ({ type: 'get', reply }), 1_000);
const adds = (probe: Probe) => probe.seen.flatMap((m) => (m.type === 'add' ? [m.n] : []));

describe('actors', () => {
  let system: ActorSystem;
  let probe: Probe;
  let letters: ActorDeadLetter[];

  beforeEach(() => {
    system = new ActorSystem('test');
    probe = { seen: [], stops: [] };
    letters = [];
    system.deadLetters.subscribe((d) => letters.push(d));
  });
  afterEach(() => system.stop());

  it('spawns an actor that handles tells in order and answers an ask', async () => {
    const ref = system.spawn(system.root, 'adder', adder(probe));
    ref.tell(add(1));
    ref.tell(add(2));
    ref.tell(add(3));
    assert.equal(await get(ref), 6);
    assert.deepEqual(adds(probe), [1, 2, 3]);
    assert.equal(ref.alive, true);
  });

  it('ask rejects when no reply comes within its timeout, and the actor goes on', async () => {
    const ref = system.spawn(system.root, 'silent', adder(probe));
    await assert.rejects(ref.ask<number>((reply) => ({ type: 'ignore', reply }), 10), /timed out/);
    ref.tell(add(5));
    assert.equal(await get(ref), 5);
  });

  it('ask rejects with the Error the actor replies with', async () => {
    const failing: Behavior<null, { reply: Reply<number> }> = { init: () => null, receive: (s, m) => (m.reply(new Error('no')), s) };
    const ref = system.spawn(system.root, 'failing', failing);
    await assert.rejects(ref.ask<number>((reply) => ({ reply }), 1_000), /^Error: no$/);
  });

  it("a full mailbox with overflow 'reject' throws MailboxFull, and the actor keeps working", async () => {
    const ref = system.spawn(system.root, 'bounded', adder(probe, { capacity: 2, overflow: 'reject' }));
    const g = gate();
    ref.tell({ type: 'hold', gate: g.promise });
    ref.tell(add(1));
    assert.equal(ref.mailboxSize, 2);
    const err = (() => {
      try {
        ref.tell(add(100));
      } catch (e) {
        return e;
      }
      return assert.fail('tell to a full mailbox did not throw');
    })();
    assert.ok(err instanceof MailboxFull && err instanceof WarrenError);
    assert.equal(err.code, 'MAILBOX_FULL');
    assert.equal(err.capacity, 2);
    assert.equal(letters.length, 0, "'reject' pushes back on the sender; nothing is dead-lettered");
    // An ask is a tell too: a full mailbox rejects it at once with the same typed error.
    await assert.rejects(get(ref), MailboxFull);

    g.open();
    await until(() => ref.mailboxSize === 0, 'the mailbox to drain');
    ref.tell(add(2));
    assert.equal(await get(ref), 3);
    assert.deepEqual(adds(probe), [1, 2]);
  });

  it("a full mailbox with overflow 'dead-letter' sends the overflow to dead letters", async () => {
    const ref = system.spawn(system.root, 'lossy', adder(probe, { capacity: 1, overflow: 'dead-letter' }));
    const g = gate();
    ref.tell({ type: 'hold', gate: g.promise });
    const before = system.deadLetters.count;
    ref.tell(add(7));
    ref.tell(add(8));
    assert.equal(system.deadLetters.count - before, 2);
    assert.deepEqual(letters, [
      { actor: 'lossy', reason: 'mailbox-full', message: add(7) },
      { actor: 'lossy', reason: 'mailbox-full', message: add(8) },
    ]);

    await until(() => ref.mailboxSize === 0, 'the hold to be taken');
    g.open();
    // One message at a time fits: the ask first, then a tell once the ask is answered.
    assert.equal(await get(ref), 0, 'the refused messages were never handled');
    ref.tell(add(9));
    await until(() => ref.mailboxSize === 0, 'add(9) to be taken');
    assert.equal(await get(ref), 9);
  });

  it('a message told to a stopped actor goes to dead letters', async () => {
    const ref = system.spawn(system.root, 'gone', adder(probe));
    ref.stop();
    await until(() => probe.stops.length === 1, 'afterStop');
    assert.equal(ref.alive, false);
    ref.tell(add(1));
    assert.deepEqual(letters, [{ actor: 'gone', reason: 'stopped', message: add(1) }]);
    await assert.rejects(get(ref), Stopped);
    assert.equal(letters.length, 2, "the ask's message is a dead letter too");
  });

  it('a message told right after stop(), before the actor has finished stopping, is not dropped', async () => {
    const ref = system.spawn(system.root, 'stopping', adder(probe));
    ref.stop();
    ref.tell(add(1));
    await until(() => probe.stops.length === 1, 'afterStop');
    assert.deepEqual(letters.map((d) => d.message), [add(1)]);
    assert.deepEqual(probe.seen, []);
  });

  it('messages left in the mailbox at stop go to afterStop and to dead letters', async () => {
    const ref = system.spawn(system.root, 'busy', adder(probe));
    const g = gate();
    ref.tell(add(1));
    ref.tell({ type: 'hold', gate: g.promise });
    await until(() => probe.seen.length === 2, 'the actor to start holding');
    ref.tell(add(2));
    ref.tell(add(3));
    ref.stop();
    await until(() => probe.stops.length === 1, 'afterStop');
    g.open();
    assert.deepEqual(probe.stops[0]!.leftover, [add(2), add(3)]);
    assert.deepEqual(letters, [
      { actor: 'busy', reason: 'stopped', message: add(2) },
      { actor: 'busy', reason: 'stopped', message: add(3) },
    ]);
    assert.deepEqual(adds(probe), [1]);
  });

  it('a message told just before stop(), not yet started, is a leftover rather than lost', async () => {
    const ref = system.spawn(system.root, 'abrupt', adder(probe));
    ref.tell(add(1));
    ref.stop();
    await until(() => probe.stops.length === 1, 'afterStop');
    // Every message told is either handled or a dead letter: never both, never neither.
    assert.equal(probe.seen.length + letters.length, 1);
    assert.deepEqual(probe.stops[0]!.leftover.length, letters.length);
  });

  it('stopping the system stops every actor, children first, and later tells are dead letters', async () => {
    const parent = system.supervisor(system.root, 'parent', (_msg, _err, ctx) => ctx.stop);
    const child = system.spawn(parent, 'child', adder(probe));
    const top = system.spawn(system.root, 'top', adder(probe));
    system.stop();
    await until(() => probe.stops.length === 2, 'both afterStops');
    assert.equal(child.alive, false);
    assert.equal(top.alive, false);
    child.tell(add(1));
    top.tell(add(2));
    assert.deepEqual(letters.map((d) => [d.actor, d.reason]), [['child', 'stopped'], ['top', 'stopped']]);
  });
});
