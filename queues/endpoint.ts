// A queue as its users reach it: publish, subscribe, settle, cancel. The local endpoint talks to the
// queue actor in this process; a remote one talks to the queue's leader node over the transport.
import { DEFAULT_ASK_TIMEOUT_MS, type ActorRef } from '../actors/actor.ts';
import { Batcher } from '../actors/batcher.ts';
import { Stopped } from '../node/errors.ts';
import type { ConsumerTag, QueueName, Seq } from '../node/ids.ts';
import type { PendingPublish, QueueMsg, Subscriber } from './queue-actor.ts';
import type { Settlement } from './queue-machine.ts';

export type PublishRequest = Omit<PendingPublish, 'done'>;
/** queue.delete's preconditions: no consumers (ifUnused), no messages (ifEmpty). */
export interface DeleteConditions { readonly ifUnused: boolean; readonly ifEmpty: boolean }
export interface PublishResult { readonly seq: Seq; readonly duplicate: boolean }

export interface QueueEndpoint {
  readonly name: QueueName;
  /** Resolves once the message is confirmed by the queue, with what `result` makes of the confirm. */
  publish<R>(item: PublishRequest, result: (r: PublishResult) => R): Promise<R>;
  subscribe(consumer: ConsumerTag, subscriber: Subscriber): Promise<void>;
  /** Settlements arrive in the order they were made, and before a later cancel of the same consumer. */
  settle(consumer: ConsumerTag, items: readonly Settlement[]): void;
  /** Returns what the consumer still holds to the queue; the deliveries of `unseen` (no handler had them) do not count. */
  cancel(consumer: ConsumerTag, unseen?: readonly Seq[]): Promise<void>;
  /** After a reconnect: deliveries the consumer does not hold go back in line; false = unknown consumer. */
  reconcile(consumer: ConsumerTag, holds: readonly Seq[]): Promise<boolean>;
  /** Removes the waiting messages (not the unacked ones); resolves with how many, once durable. */
  purge(): Promise<number>;
  /**
   * Deletes the queue where it lives (its log, its metadata, its catalog entry) unless a condition
   * fails (PreconditionFailed); resolves with how many messages it held.
   */
  delete(conditions: DeleteConditions): Promise<number>;
}


export class LocalEndpoint implements QueueEndpoint {
  /** Publishes of one event-loop turn reach the queue actor as one batch: one append, one sync. */
  private readonly publisher = new Batcher<PendingPublish>((items) => this.publishBatch(items));

  constructor(
    readonly name: QueueName,
    private actor: ActorRef<QueueMsg>,
    /** The queue's subscribers (QueueEnv.subscribers): what its actor subscribes again when it restarts or reopens. */
    private readonly subscribers: Map<ConsumerTag, Subscriber>,
  ) {}

  get ref(): ActorRef<QueueMsg> {
    return this.actor;
  }

  /** The queue's actor was spawned again (its supervisor had given it up): its users keep this endpoint. */
  rebind(actor: ActorRef<QueueMsg>): void {
    this.actor = actor;
  }

  publish<R>(item: PublishRequest, result: (r: PublishResult) => R): Promise<R> {
    return new Promise((resolve, reject) => this.publisher.add({
      // Spelled out rather than spread: one object shape on the hot path, built without a copy loop.
      id: item.id, body: item.body, headers: item.headers, priority: item.priority, size: item.size, delayMs: item.delayMs, ttlMs: item.ttlMs, fresh: item.fresh,
      done: (r) => (r instanceof Error ? reject(r) : resolve(result(r))) }));
  }

  /** A batch that is one already (a frame from a remote producer) goes to the queue actor as it is. */
  publishBatch(items: readonly PendingPublish[]): void {
    if (this.ref.alive) return this.ref.tell({ type: 'publish', items });
    for (const p of items) p.done(new Stopped(`queue '${this.name}'`));
  }

  subscribe(consumer: ConsumerTag, subscriber: Subscriber): Promise<void> {
    return this.ref.ask<void>((reply) => ({ type: 'subscribe', consumer, subscriber, reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  settle(consumer: ConsumerTag, items: readonly Settlement[]): void {
    this.ref.tell({ type: 'settle', consumer, items });
  }

  cancel(consumer: ConsumerTag, unseen: readonly Seq[] = []): Promise<void> {
    // Gone from the subscribers first: a cancel that a crash or a down queue keeps from the actor must
    // not leave a ghost that a restart subscribes again, with messages handed to it that no one handles.
    this.subscribers.delete(consumer);
    if (!this.ref.alive) return Promise.resolve();
    return this.ref.ask<void>((reply) => ({ type: 'cancel', consumer, unseen, reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  reconcile(consumer: ConsumerTag, holds: readonly Seq[]): Promise<boolean> {
    return this.ref.ask<boolean>((reply) => ({ type: 'reconcile', consumer, holds, reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  purge(): Promise<number> {
    return this.ref.ask<number>((reply) => ({ type: 'purge', reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  /** Checks the conditions and destroys the log, in one turn of the queue actor; the node does the rest (Warren.deleteHere). */
  delete(conditions: DeleteConditions): Promise<number> {
    return this.ref.ask<number>((reply) => ({ type: 'delete', ...conditions, reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  /** Resolves once the queue has recovered from its log. */
  open(): Promise<void> {
    return this.ref.ask<void>((reply) => ({ type: 'open', reply }), DEFAULT_ASK_TIMEOUT_MS);
  }

  /** Flushes and closes the queue's log (node stop). */
  close(): Promise<void> {
    return this.ref.alive ? this.ref.ask<void>((reply) => ({ type: 'close', reply }), DEFAULT_ASK_TIMEOUT_MS) : Promise.resolve();
  }
}
