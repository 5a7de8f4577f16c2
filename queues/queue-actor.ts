// The queue actor: owns one QueueMachine, feeds it commands from its mailbox and carries out the
// effects (log appends, confirms after durability, deliveries, dead letters). A restart rebuilds the
// machine from the log, so a crash can cost redeliveries but never a confirmed message.
import type { Behavior, Reply } from '../actors/actor.ts';
import { NotConfirmed, Overflow, PreconditionFailed, QueueNotFound, Stopped, StorageError, queueInUse } from '../node/errors.ts';
import type { ConsumerTag, MessageId, Seq } from '../node/ids.ts';
import { seqRuns, type Headers, type LogRecord, type QueueLog, type RecoveryReport, type StoredMessage } from '../storage/storage.ts';
import { backoffDelay } from '../supervision/backoff.ts';
import { crashHandler, oneForOne } from '../supervision/strategy.ts';
import {
  QueueMachine,
  type DeadLettered, type PublishItem, type QueueConfig, type QueueEffect, type QueueSnapshot, type Settlement,
} from './queue-machine.ts';

/** A message as a consumer gets it, here or across the network. */
export interface Delivery {
  readonly seq: Seq;
  readonly id: MessageId;
  readonly headers: Headers;
  readonly deliveryCount: number;
  readonly body: Uint8Array;
}

/** A publish on its way in: what the machine needs (PublishItem), and who waits for it. */
export interface PendingPublish extends PublishItem {
  readonly done: Reply<{ readonly seq: Seq; readonly duplicate: boolean }>;
}

export interface Subscriber {
  readonly prefetch: number;
  readonly deliver: (batch: readonly Delivery[]) => void;
  /** What the consumer holds now (delivered, not yet settled): a reconnect reconciles with it. */
  readonly held: () => readonly Seq[];
}

export type QueueMsg =
  | { readonly type: 'open'; readonly reply: Reply<void> }
  | { readonly type: 'publish'; readonly items: readonly PendingPublish[] }
  | { readonly type: 'subscribe'; readonly consumer: ConsumerTag; readonly subscriber: Subscriber; readonly reply: Reply<void> }
  | { readonly type: 'cancel'; readonly consumer: ConsumerTag; readonly unseen: readonly Seq[]; readonly reply: Reply<void> }
  | { readonly type: 'reconcile'; readonly consumer: ConsumerTag; readonly holds: readonly Seq[]; readonly reply: Reply<boolean> }
  | { readonly type: 'settle'; readonly consumer: ConsumerTag; readonly items: readonly Settlement[] }
  | { readonly type: 'tick' }
  /** Dead letters confirmed by the dead-letter queue, as `machine` sent them (a restart rebuilds the machine). */
  | { readonly type: 'dead-lettered'; readonly machine: QueueMachine; readonly seqs: readonly Seq[] }
  | { readonly type: 'close'; readonly reply: Reply<void> }
  /** Removes the waiting messages; replies with how many, once their removal is durable. */
  | { readonly type: 'purge'; readonly reply: Reply<number> }
  /** Destroys the queue's log unless a precondition fails; replies with how many messages it held. */
  | { readonly type: 'delete'; readonly ifUnused: boolean; readonly ifEmpty: boolean; readonly reply: Reply<number> };

/** What outlives one incarnation of the actor: configuration, the way to the log, subscribers. */
export interface QueueEnv {
  readonly config: QueueConfig;
  openLog(): Promise<QueueLog>;
  /** Moves messages to the dead-letter queue; resolves once they are confirmed there. */
  deadLetter(messages: readonly (DeadLettered & { readonly message: StoredMessage })[]): Promise<void>;
  /** Messages kept in memory up to this many body bytes; the rest are read back from the log. */
  readonly bodyBudget: number;
  /**
   * Mirrored queues: resolves once every message appended so far is committed (held by enough mirrors,
   * under a valid lease; rejects only when this node can commit nothing more). Deliveries wait for it,
   * so that a consumer never sees a message a failover could lose. Not for their 'delivered' records:
   * a new leader counts what it takes over as possibly delivered (see RecoveredQueue.uncertainBelow).
   * Other queues deliver at once, before the fsync.
   */
  readonly committed?: () => Promise<void>;
  readonly subscribers: Map<ConsumerTag, Subscriber>;
  log?: QueueLog;
  snapshot?: QueueSnapshot;
  /** What the last recovery found damaged and dropped. */
  recovery?: RecoveryReport;
  /** The queue was deleted and its log destroyed: every later message is refused (a restart too). */
  deleted?: boolean;
  /** Storage and dead-letter failures, for stats and logs. */
  onError(error: Error): void;
  /** The actor stopped for good (by its supervisor, after too many crashes, or with the node), once its log is closed. */
  onStopped?(): void;
}

interface QueueState {
  machine?: QueueMachine;
  /** The window of messages kept whole in memory; a longer backlog lives in the log only. */
  readonly cache: Map<Seq, StoredMessage>;
  cachedBytes: number;
  /** Settles when everything appended so far is durable. */
  durable: Promise<void>;
  timer?: { at: number; handle: NodeJS.Timeout };
}

export function queueBehavior(env: QueueEnv): Behavior<QueueState, QueueMsg> {
  return {
    init: (ctx) => {
      // A restart (the actor ran before): recover at once, not at the next message, for the
      // subscribers wait for their redeliveries, and the crash may have taken their acks.
      if (env.snapshot) queueMicrotask(() => ctx.self.tell({ type: 'tick' }));
      return { cache: new Map(), cachedBytes: 0, durable: Promise.resolve() };
    },

    async receive(state, msg, ctx) {
      if (msg.type === 'close') {
        await closeLog(env, state);
        msg.reply(undefined);
        return state;
      }
      if (env.deleted) {
        // Deleting again finds nothing to delete: 0, as for a queue that never existed.
        if (msg.type === 'delete') msg.reply(0);
        else failPending(msg, new QueueNotFound(env.config.name));
        return state;
      }
      const self: Self = (m) => ctx.self.tell(m);
      const machine = state.machine ?? (await open(env, state, self));
      const now = Date.now();
      switch (msg.type) {
        case 'open':
          msg.reply(undefined);
          await run(env, state, self, machine.handle({ type: 'tick', now }));
          break;
        case 'publish':
          await run(env, state, self, machine.handle({ type: 'publish', now, items: msg.items }), msg.items);
          break;
        case 'subscribe':
          env.subscribers.set(msg.consumer, msg.subscriber);
          msg.reply(undefined);
          await run(env, state, self, machine.handle({ type: 'subscribe', now, consumer: msg.consumer, prefetch: msg.subscriber.prefetch }));
          break;
        case 'reconcile': {
          // false: the queue does not know this consumer (its node restarted): subscribe again.
          const known = env.subscribers.has(msg.consumer);
          if (known) await run(env, state, self, machine.handle({ type: 'reconcile', now, consumer: msg.consumer, holds: msg.holds }));
          msg.reply(known);
          break;
        }
        case 'cancel':
          env.subscribers.delete(msg.consumer);
          await run(env, state, self, machine.handle({ type: 'cancel', now, consumer: msg.consumer, unseen: msg.unseen }));
          msg.reply(undefined);
          break;
        case 'settle':
          await run(env, state, self, machine.handle({ type: 'settle', now, consumer: msg.consumer, items: msg.items }));
          break;
        case 'tick':
          state.timer = undefined;
          await run(env, state, self, machine.handle({ type: 'tick', now }));
          break;
        case 'purge': {
          const effects = machine.handle({ type: 'purge', now });
          await run(env, state, self, effects);
          const purged = effects.find((e) => e.type === 'purged')!;
          state.durable.then(() => msg.reply(purged.count), (err: unknown) => msg.reply(new NotConfirmed(`queue '${env.config.name}': the purge was not stored`, { cause: err })));
          break;
        }
        case 'delete': {
          const [verdict] = machine.handle({ type: 'delete', now, ifUnused: msg.ifUnused, ifEmpty: msg.ifEmpty });
          if (verdict?.type === 'undeletable') {
            msg.reply(verdict.why === 'in-use'
              ? queueInUse(env.config.name, verdict.count)
              : new PreconditionFailed(`queue '${env.config.name}' holds ${verdict.count} message(s) (ifEmpty)`));
            break;
          }
          await destroyLog(env, state);
          msg.reply(verdict?.type === 'deletable' ? verdict.held : 0);
          return state;
        }
        case 'dead-lettered':
          // A machine rebuilt since knows these messages as live, and deals with them itself (the
          // dead-letter queue's dedup, by id and where it died, absorbs a second move): log and machine must agree.
          if (msg.machine === machine) append(env, state, seqRuns(msg.seqs).map((seqs) => ({ type: 'remove', seqs, reason: 'dead-letter' })));
          break;
      }
      schedule(state, machine, () => self({ type: 'tick' }));
      env.snapshot = machine.snapshot();
      return state;
    },

    // A crash restarts the actor at once; one that keeps crashing (10 times in 10 s) stops, and the node
    // takes over (Warren.queueDown): a mirror leads instead, or the queue opens again after a pause.
    onCrash: crashHandler(oneForOne({ exhausted: 'stop' }), ({ message, error, directive }) => {
      env.onError(new Error(`queue '${env.config.name}' crashed (${directive === 'stop' ? 'too often: stopping' : 'restarting from its log'}): ${(error as Error)?.message ?? error}`, { cause: error }));
      failPending(message as QueueMsg, new NotConfirmed(`queue crashed: ${(error as Error)?.message ?? error}`, { cause: error }));
    }),

    // Stopped after crashing too often, the actor still holds its log open: closed here, so that the
    // queue can open again (a replica of it, or the queue reopened by the node). What waited in its
    // mailbox is refused.
    afterStop: (state, leftover) => {
      for (const m of leftover) failPending(m, new Stopped(`queue '${env.config.name}'`));
      void closeLog(env, state).finally(() => env.onStopped?.());
    },
  };
}

/** Waits for the writes under way, then ends the log: `end` closes it, or destroys it with the queue. */
async function endLog(env: QueueEnv, state: QueueState | undefined, end: (log: QueueLog) => Promise<void>): Promise<void> {
  clearTimeout(state?.timer?.handle);
  await state?.durable.catch(() => {});
  const log = env.log;
  env.log = undefined;
  if (log) await end(log);
}

function closeLog(env: QueueEnv, state: QueueState | undefined): Promise<void> {
  return endLog(env, state, (log) => log.close().catch((err: unknown) => env.onError(err instanceof Error ? err : new Error(String(err)))));
}

/** The queue is deleted: its log goes from disk, and its state with it. */
function destroyLog(env: QueueEnv, state: QueueState): Promise<void> {
  env.deleted = true;
  env.subscribers.clear();
  state.machine = undefined;
  state.cache.clear();
  state.cachedBytes = 0;
  return endLog(env, state, (log) => log.destroy());
}

/** Opens the log and rebuilds the machine from it: at start, and after every restart. */
async function open(env: QueueEnv, state: QueueState, self: Self): Promise<QueueMachine> {
  const last = env.log;
  env.log = undefined;
  await last?.close();
  env.log = await env.openLog();
  const recovered = await env.log.recover();
  env.recovery = recovered.report;
  if (recovered.report.droppedRecords > 0) {
    env.onError(new StorageError(`queue '${env.config.name}': recovery dropped ${recovered.report.droppedRecords} damaged records (${recovered.report.droppedBytes} bytes): ${recovered.report.problems.join('; ')}`));
  }
  const now = Date.now();
  const machine = new QueueMachine(env.config, recovered, now);
  state.machine = machine;
  // After a restart, the subscribers the actor had: they get their redeliveries at once.
  for (const [consumer, sub] of env.subscribers) await run(env, state, self, machine.handle({ type: 'subscribe', now, consumer, prefetch: sub.prefetch }));
  return machine;
}

type Self = (msg: QueueMsg) => void;

async function run(env: QueueEnv, state: QueueState, self: Self, effects: readonly QueueEffect[], pending: readonly PendingPublish[] = []): Promise<void> {
  // The appends, then the confirms' wait, then the rest. Where confirms and deliveries both wait for
  // the commit (mirrored queues), the confirms go first: a producer's next publish is not held up
  // behind the encoding and sending of a window of deliveries.
  for (const e of effects) if (e.type === 'append') append(env, state, e.records);
  confirmWhenDurable(env, state, effects, pending);
  for (const e of effects) {
    switch (e.type) {
      case 'refuse':
        pending[e.ref]!.done(new Overflow(env.config.name, env.config.maxLength ?? 0));
        break;
      case 'deliver': {
        const committed = env.committed?.();
        const stored = await messagesOf(env, state, e.messages);
        const deliver = () => env.subscribers.get(e.consumer)?.deliver(e.messages.map((m, i) => {
          const { meta, body } = stored[i]!;
          return { seq: m.seq, id: meta.id, headers: meta.headers, deliveryCount: m.deliveryCount, body };
        }));
        // Never committed here (deposed): the consumer's hold is taken back on failover.
        if (committed) committed.then(deliver, () => {});
        else deliver();
        break;
      }
      case 'dead-letter': {
        const stored = await messagesOf(env, state, e.messages);
        moveDead(env, self, { machine: state.machine!, log: env.log! }, e.messages.map((dead, i) => ({ ...dead, message: stored[i]! })));
        break;
      }
      case 'append':
      case 'confirm':
      case 'stale':
      case 'purged':
      case 'deletable':
      case 'undeletable':
        break;
    }
  }
}

/** A failed move to the dead-letter queue is tried again after this backoff. */
const DEAD_LETTER_RETRY = { minMs: 100, maxMs: 5_000, jitter: 0.3 };

/**
 * Dead letters leave the queue once the dead-letter queue has confirmed them. A move that fails (a
 * full dead-letter queue that refuses publishes, a dead-letter queue without a quorum) is tried again
 * until it succeeds, deduplicated by message id and where it died (dedupKey), so dead letters are held back, never lost. A stopping
 * node gives up: without their removal, the next start dead-letters them again.
 */
function moveDead(env: QueueEnv, self: Self, from: { readonly machine: QueueMachine; readonly log: QueueLog }, messages: Parameters<QueueEnv['deadLetter']>[0], attempt = 1): void {
  env.deadLetter(messages).then(
    () => self({ type: 'dead-lettered', machine: from.machine, seqs: messages.map((m) => m.seq) }),
    (err: unknown) => {
      if (err instanceof Stopped) return;
      env.onError(err instanceof Error ? err : new Error(String(err)));
      // Until the actor restarts or stops (its log is closed then): a rebuilt machine moves its dead letters itself.
      const retry = () => { if (env.log === from.log) moveDead(env, self, from, messages, attempt + 1); };
      setTimeout(retry, backoffDelay(attempt, DEAD_LETTER_RETRY)).unref();
    },
  );
}

/** One wait for the whole batch: every confirm waits for everything appended so far to be durable. */
function confirmWhenDurable(env: QueueEnv, state: QueueState, effects: readonly QueueEffect[], pending: readonly PendingPublish[]): void {
  const confirms = effects.filter((e): e is Extract<QueueEffect, { type: 'confirm' }> => e.type === 'confirm');
  if (confirms.length === 0) return;
  // A duplicate appends nothing, yet its confirm must pass the commit gate too: a deposed leader
  // must not confirm a retry of a message that its successor may not hold. An empty append is the barrier.
  if (env.committed && confirms.some((c) => c.duplicate)) append(env, state, []);
  state.durable.then(
    () => { for (const c of confirms) pending[c.ref]!.done(c); },
    (err: unknown) => {
      const e = new NotConfirmed(`queue '${env.config.name}': not stored`, { cause: err });
      for (const c of confirms) pending[c.ref]!.done(e);
    },
  );
}

function append(env: QueueEnv, state: QueueState, records: readonly LogRecord[]): void {
  let enqueues = false;
  for (const r of records) {
    enqueues ||= r.type === 'enqueue';
    if (r.type === 'enqueue' && state.cachedBytes + r.body.length <= env.bodyBudget) {
      state.cache.set(r.meta.seq, r);
      state.cachedBytes += r.body.length;
    } else if (r.type === 'remove') {
      for (const seq of r.seqs) {
        const m = state.cache.get(seq);
        if (m && state.cache.delete(seq)) state.cachedBytes -= m.body.length;
      }
    }
  }
  // Settlements alone wait for the next message's write; a mirrored queue ships them to its mirrors at
  // once, and writes them at once too (waiting gained nothing there, measured).
  const deferrable = !env.committed && !enqueues;
  state.durable = env.log!.append(records, { deferrable });
  state.durable.catch((err: unknown) => env.onError(err instanceof Error ? err : new Error(String(err))));
}

/** Messages from memory where kept, from the log otherwise (a long backlog lives on disk only). */
async function messagesOf(env: QueueEnv, state: QueueState, slots: readonly { seq: Seq }[]): Promise<StoredMessage[]> {
  const out = slots.map(({ seq }) => state.cache.get(seq));
  const missing = slots.filter((_, i) => out[i] === undefined).map(({ seq }) => seq);
  if (missing.length === 0) return out as StoredMessage[];
  const read = await env.log!.read(missing);
  let next = 0;
  return out.map((m) => m ?? read[next++]!);
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

function schedule(state: QueueState, machine: QueueMachine, tick: () => void): void {
  const at = machine.nextWakeup();
  if (at === undefined || (state.timer && state.timer.at <= at)) return;
  clearTimeout(state.timer?.handle);
  // Node fires a timeout past 2^31-1 ms at once: a wakeup that far (a TTL or delay of weeks) waits in steps.
  const handle = setTimeout(tick, Math.min(MAX_TIMEOUT_MS, Math.max(0, at - Date.now())));
  handle.unref();
  state.timer = { at, handle };
}

/** The message a crash interrupted, or one left in the mailbox of a stopped actor, must not leave its senders waiting. */
function failPending(msg: QueueMsg | undefined, err: Error): void {
  if (!msg) return;
  switch (msg.type) {
    case 'publish': for (const p of msg.items) p.done(err); break;
    case 'open': case 'subscribe': case 'cancel': case 'reconcile': case 'close': case 'purge': case 'delete': msg.reply(err); break;
    case 'settle': case 'tick': case 'dead-lettered': break;
  }
}
