// A Warren node: the supervision tree (node → queues → queue actors; node → consumers → consumer
// actors), the routing table, storage, and the public API of API.md.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Ref } from 'nact';
import { ActorSystem } from '../actors/actor.ts';
import type { Catalog, QueueDecl } from '../queues/catalog.ts';
import { LocalCatalog } from '../queues/local-catalog.ts';
import type { Handler } from '../queues/consumer-actor.ts';
import { LocalEndpoint, type DeleteConditions, type PublishRequest, type QueueEndpoint } from '../queues/endpoint.ts';
import { KvCatalog } from '../queues/kv-catalog.ts';
import { QueueServer, type ServerCounters } from '../queues/queue-server.ts';
import { defaultRemote, RemoteEndpoint } from '../queues/remote-endpoint.ts';
import { clusterSubjects, type ClusterSubjects } from '../transport/cluster-subjects.ts';
import { Membership } from '../transport/membership.ts';
import { NatsTransport } from '../transport/nats.ts';
import { queueBehavior, type QueueEnv } from '../queues/queue-actor.ts';
import { chooseReplicas } from '../replication/placement.ts';
import { Coordinator } from '../replication/coordinator.ts';
import { KvMetaStore } from '../replication/kv-meta-store.ts';
import { defaultLeadership, Leadership } from '../replication/leadership.ts';
import type { MirrorRequests } from '../replication/mirror-link.ts';
import type { Versioned } from '../replication/meta-store.ts';
import { FrameSender } from '../replication/frame-sender.ts';
import { ReplicaServer } from '../replication/replica-server.ts';
import { ReplyInbox } from '../transport/reply-inbox.ts';
import type { QueueConfig } from '../queues/queue-machine.ts';
import { MemoryStorage } from '../storage/memory-store.ts';
import { openStorage } from '../storage/open.ts';
import type { Headers, Storage } from '../storage/storage.ts';
import { backoffDelay, defaultBackoff, type BackoffOptions } from '../supervision/backoff.ts';
import { recordRestart, type RestartHistory } from '../supervision/intensity.ts';
import { crashHandler, defaultIntensity, oneForOne, type Directive } from '../supervision/strategy.ts';
import { CONTENT_TYPE, encodeBody, type Body } from './body.ts';
import { Consumer, type ConsumerClosed } from './consumer.ts';
import {
  ExchangeNotFound, InvalidArgument, NotConfirmed, PreconditionFailed, QueueNotFound, Stopped, WarrenError, queueInUse,
} from './errors.ts';
import { asConsumerTag, asExchange, asMessageId, asNodeId, asQueue, type ExchangeName, type NodeId, type QueueName } from './ids.ts';
import type { Message } from './message.ts';
import { messageStream } from './message-stream.ts';
import {
  checkName, consumeSchema, deleteExchangeSchema, deleteQueueSchema, exchangeSchema, messagesSchema, parse, publishSchema, queueSchema, startSchema,
  type DeleteExchangeOptions, type DeleteQueueOptions, type ExchangeOptions, type PublishOptions, type QueueOptions, type ResolvedQueueOptions, type StartOptions,
} from './options.ts';
import { collectStats, type QueueStats, type Stats } from './stats.ts';
import { RateWindow } from './rates.ts';
import { badRoutingKey, MIN_MAX_PAYLOAD, overPayload } from './limits.ts';

export type Target = { readonly queue: string } | { readonly exchange: string; readonly routingKey?: string };

export interface Receipt {
  readonly id: string;
  /** Every queue it went to had it already (producer dedup by message id). */
  readonly duplicate: boolean;
  /** How many queues took it; 0 = unroutable (counted in stats). */
  readonly routed: number;
}

export interface ConsumeOptions {
  prefetch?: number;
  ack?: 'manual' | 'auto';
  /**
   * A message delivered to the consumer and not settled within this (default 30 minutes, as RabbitMQ's
   * consumer_timeout; 0: no limit) ends the consumer: closed `{ reason: 'ack-timeout' }`, its messages
   * back to the queue, redelivered.
   */
  ackTimeoutMs?: number;
  retry?: { backoffMs?: number; maxBackoffMs?: number };
  /** Supervision of the handler: what a throw means, and how many restarts before escalating. */
  supervision?: { decide?: (error: unknown) => Directive; maxRestarts?: number; withinMs?: number };
}

/**
 * A queue actor its supervisor gave up on (it kept crashing) opens again after this pause, which grows
 * while it keeps failing (counted over REOPEN_MEMORY_MS), as a supervisor one level up would restart it.
 */
const QUEUE_REOPEN: BackoffOptions = { minMs: 1_000, maxMs: 60_000, jitter: 0.2 };
const REOPEN_MEMORY_MS = 10 * 60_000;

/** Bodies a queue keeps in memory; a longer backlog's bodies stay on disk until delivered. */
const BODY_BUDGET_BYTES = 32 * 1024 * 1024;
const NO_OPTIONS: PublishOptions = Object.freeze({});
/** Headers are immutable once published, so messages without their own share one object per type. */
const contentHeaders = (() => {
  const shared = new Map<string, Readonly<Record<string, string>>>();
  return (type: string) => shared.get(type) ?? shared.set(type, Object.freeze({ [CONTENT_TYPE]: type })).get(type)!;
})();

interface QueueHandle {
  readonly name: QueueName;
  readonly options: ResolvedQueueOptions;
  readonly endpoint: LocalEndpoint;
  readonly env: QueueEnv;
  /** Mirrored queues: this node's leadership of it. */
  readonly leadership?: Leadership;
  /** Its actor was given up, its log closed (queueDown), and the node has not opened it again yet. */
  down: boolean;
}

/** What a distributed node has beyond an embedded one. */
interface Cluster {
  readonly transport: NatsTransport;
  readonly subjects: ClusterSubjects;
  readonly membership: Membership;
  readonly role: 'server' | 'client';
  /** The servers of the queues whose leader is this node. */
  readonly servers: Map<QueueName, QueueServer>;
  /** Queues whose leader is another node. */
  readonly remotes: Map<QueueName, RemoteEndpoint>;
  readonly counters: ServerCounters;
  /** Mirrored queues: their metadata, who leads them, and this node's replicas of them. */
  readonly meta: KvMetaStore;
  readonly coordinator: Coordinator;
  readonly replicas: ReplicaServer;
  /** Mirrors' answers to frames sent to two of them at once. */
  readonly answers: ReplyInbox;
}

/** How long a leader waits for a mirror's answer to one frame before it counts the mirror as lagging. */
const REPLICATE_TIMEOUT_MS = 2_000;
/** How often the node samples its queues' counters for stats().rates. */
const RATE_SAMPLE_MS = 1_000;

export interface NodeCounters {
  invalidInput: number;
  unroutable: number;
  errors: number;
}

export class Warren {
  readonly nodeId: NodeId;
  private readonly system: ActorSystem;
  private readonly queueSupervisor: Ref<unknown>;
  private readonly consumerSupervisor: Ref<unknown>;
  /** Queues whose home is this node. */
  private readonly queues = new Map<QueueName, QueueHandle>();
  private readonly consumers = new Set<Consumer>();
  /** When the supervisor gave each queue's actor up lately: the pause before it opens again grows with them. */
  private readonly downs = new Map<QueueName, RestartHistory>();
  private readonly volatile = new MemoryStorage();
  private readonly errorListeners = new Set<(e: Error) => void>();
  private running = true;
  private stopping: Promise<void> | undefined;
  private readonly rates = new RateWindow<QueueName>();
  private readonly rateSampler: NodeJS.Timeout;
  readonly counters: NodeCounters = { invalidInput: 0, unroutable: 0, errors: 0 };

  private constructor(nodeId: NodeId, private readonly storage: Storage, private readonly catalog: Catalog, private readonly cluster?: Cluster) {
    this.nodeId = nodeId;
    this.system = new ActorSystem(`warren-${nodeId}-${randomUUID().slice(0, 8)}`);
    // A queue actor restarts itself, and stops once it keeps crashing (then queueDown takes over); one
    // that escalated would be stopped too, never allowed to take the node down with it.
    this.queueSupervisor = this.system.supervisor(this.system.root, 'queues', crashHandler(oneForOne({ decide: () => 'stop' }), (f) => this.fault('queue', f.error)));
    // A consumer that escalates is restarted after a backoff, which grows with its escalations of the
    // last 5 minutes (up to 30 s): through a downstream outage it pauses and tries again, as a circuit
    // breaker does, and is never given up (only a 'stop' decision ends a consumer).
    this.consumerSupervisor = this.system.supervisor(this.system.root, 'consumers', crashHandler(oneForOne({ intensity: { maxRestarts: Number.POSITIVE_INFINITY, withinMs: 5 * 60_000 } }), (f) => this.fault('consumer', f.error)));
    // A queue deleted anywhere (this node included) is forgotten here: its consumers, its actor, the way to it.
    catalog.onChange((c) => { if (c.type === 'queue-deleted') this.forget(c.name); });
    // unref: sampling for stats must not keep a process alive that has nothing else to do.
    this.rateSampler = setInterval(() => {
      const at = Date.now();
      for (const q of this.queues.values()) this.sampleRates(q, at);
    }, RATE_SAMPLE_MS).unref();
  }

  /** Starts a node. Without `nats` it runs embedded: one process, no server needed. */
  static async start(options: StartOptions = {}): Promise<Warren> {
    const o = parse(startSchema, options, 'Warren.start options');
    const role = o.role ?? 'server';
    if (role === 'client' && o.nats === undefined) throw new InvalidArgument("role 'client' needs the nats option: an embedded node holds its own queues");
    const dataDir = role === 'client' ? ':memory:' : (o.dataDir ?? path.join('.warren', o.nodeId ?? 'default'));
    // What goes wrong in the storage's background (freeing deleted files) is the node's to report, once there is one.
    let reporter: Warren | undefined;
    const storage = await openStorage(dataDir, o.fsync ?? 'always', (e) => (reporter ? reporter.fault('storage', e) : console.warn(`warren ${dataDir}: storage: ${e.message}`)));
    // Without an id, the node is the one that last used its data dir: a restart changes no queue's home.
    const nodeId = asNodeId(await storage.nodeId(o.nodeId, () => randomUUID().slice(0, 8)).catch(async (e: unknown) => {
      await storage.close();
      throw e;
    }));
    let node: Warren;
    if (o.nats === undefined) {
      node = new Warren(nodeId, storage, await LocalCatalog.open(storage, nodeId));
    } else {
      let transport: NatsTransport;
      try {
        transport = await NatsTransport.connect({ ...(typeof o.nats === 'string' ? { servers: o.nats } : o.nats), name: nodeId });
      } catch (err) {
        await storage.close();
        throw new InvalidArgument(`cannot connect to NATS (${err instanceof Error ? err.message : String(err)})`, { cause: err });
      }
      const maxPayload = transport.maxPayload;
      if (maxPayload < MIN_MAX_PAYLOAD) {
        await transport.close();
        await storage.close();
        throw new InvalidArgument(`the NATS server's max_payload of ${maxPayload} bytes is under the ${MIN_MAX_PAYLOAD} that Warren's frames need`);
      }
      const name = o.cluster ?? 'warren';
      const subjects = clusterSubjects(name);
      const counters: ServerCounters = { rejected: new Map() };
      const meta = await KvMetaStore.open(transport.connection, name);
      let self!: Warren;
      const cluster: Cluster = {
        transport, subjects, role, membership: new Membership(transport, subjects.heartbeat, nodeId, role),
        servers: new Map(), remotes: new Map(), counters, meta,
        coordinator: new Coordinator(nodeId, meta, {
          changed: (q, v) => self.metaChanged(q, v),
          removed: (q, last) => self.metaRemoved(q, last),
          lead: (q, v) => self.lead(q, v),
          position: (q, n) => self.cluster!.replicas.position(q, n),
        }, defaultLeadership.leaseMs, role === 'server'),
        replicas: new ReplicaServer(transport, subjects, nodeId, storage, counters, (q) => self.cluster!.coordinator.meta(q)?.meta.replicas.includes(nodeId) ?? false, async (q) => (await meta.get(q))?.meta),
        answers: new ReplyInbox(transport),
      };
      node = self = new Warren(nodeId, storage, await KvCatalog.open(transport.connection, name), cluster);
      if (role === 'server') {
        await node.dropDeleted();
        cluster.replicas.start();
      }
      cluster.membership.onDown((n) => node.nodeDown(asNodeId(n)));
      cluster.membership.start();
      // A client places queues on server nodes: it must have heard from them first.
      if (role === 'client') await cluster.membership.heardFromAll();
      transport.onStatus((st) => { if (st === 'reconnected') for (const r of cluster.remotes.values()) void r.resync(); });
      transport.onHandlerError((e) => node.fault('transport', e));
      // A queue declared elsewhere with this node as its home opens here; mirrored queues open where
      // the coordinator says.
      node.catalog.onChange((c) => { if (c.type === 'queue' && opensAt(c.decl, nodeId)) void node.openQueue(c.decl.name, c.decl.options).catch((e) => node.fault('queue', e)); });
      cluster.coordinator.start();
    }
    reporter = node;
    for (const decl of node.catalog.queues()) if (opensAt(decl, nodeId)) await node.openQueue(decl.name, decl.options);
    return node;
  }

  /** Declares a queue; redeclaring with the same options is a no-op, with others PreconditionFailed. */
  async declareQueue(name: string, options: QueueOptions = {}): Promise<void> {
    return this.guard(async () => {
      this.assertRunning();
      const qname = asQueue(checkName('queue', name));
      const o = parse(queueSchema, options, `queue '${name}' options`);
      // Where its dead letters go must be a queue that can be consumed: by default <name>.dlq.
      checkName('queue', o.deadLetterQueue ?? `${name}.dlq`);
      if (o.mirrors > 0 && !this.cluster) throw new InvalidArgument(`queue '${name}': mirrors live on other nodes: start the node with the nats option`);
      if ((o.minInSync ?? 1) > o.mirrors + 1) throw new InvalidArgument(`queue '${name}': minInSync ${o.minInSync} is more than its ${o.mirrors + 1} replicas`);
      if (o.deadLetterQueue === name) throw new InvalidArgument(`queue '${name}' cannot be its own dead-letter queue: its dead letters would come straight back`);
      // A declare that is refused changes nothing: its dead-letter queue is not declared either.
      const existing = this.catalog.queue(qname);
      if (existing) sameOptions(existing, o);
      // A dead-letter queue named by the user exists from the start, so it can be consumed at once;
      // the default one (<name>.dlq) appears with the first dead letter.
      if (o.deadLetterQueue !== undefined) await this.deadLetterQueue(asQueue(o.deadLetterQueue), o);
      await this.declare(qname, o);
    });
  }

  async declareExchange(name: string, options: ExchangeOptions): Promise<void> {
    return this.guard(async () => {
      this.assertRunning();
      const ename = asExchange(checkName('exchange', name));
      const { type } = parse(exchangeSchema, options, `exchange '${name}' options`);
      const declared = await this.catalog.declareExchange(ename, type);
      if (declared !== type) throw new PreconditionFailed(`exchange '${name}' exists with type '${declared}', not '${type}'`);
    });
  }

  /**
   * Deletes the exchange and its bindings, as AMQP's exchange.delete; `ifUnused`: refused
   * (PreconditionFailed) while it has bindings. Deleting one that does not exist succeeds.
   */
  async deleteExchange(name: string, options: DeleteExchangeOptions = {}): Promise<void> {
    return this.guard(async () => {
      this.assertRunning();
      const ename = asExchange(checkName('exchange', name));
      const { ifUnused } = parse(deleteExchangeSchema, options, `delete of exchange '${name}'`);
      await this.known('exchange', name);
      if (this.catalog.exchanges.typeOf(ename) === undefined) return;
      const bindings = this.catalog.exchanges.bindingsOf({ exchange: ename }).length;
      if (ifUnused && bindings > 0) throw new PreconditionFailed(`exchange '${name}' has ${bindings} binding(s) (ifUnused)`);
      await this.catalog.deleteExchange(ename);
    });
  }

  /**
   * Removes every message waiting in the queue (ready or delayed; not the unacked ones), as AMQP's
   * queue.purge; resolves with how many, once their removal is in the queue's log (and, for a mirrored
   * queue, committed to its mirrors like any other record).
   */
  async purgeQueue(name: string): Promise<number> {
    return this.guard(async () => {
      this.assertRunning();
      await this.known('queue', name);
      return this.endpoint(name).purge();
    });
  }

  /**
   * Deletes the queue everywhere, as AMQP's queue.delete: its catalog entry and bindings, its log on
   * every replica, its dedup window; its consumers close with `{ reason: 'deleted' }`. Refused
   * (PreconditionFailed) when `ifUnused` and it has consumers, or `ifEmpty` and it holds messages.
   * Resolves with the messages it held (ready, delayed and unacked); a queue that does not exist is
   * deleted already (0), as in RabbitMQ 3.x and 4.x.
   */
  async deleteQueue(name: string, options: DeleteQueueOptions = {}): Promise<number> {
    return this.guard(async () => {
      this.assertRunning();
      const qname = asQueue(checkName('queue', name));
      const { ifUnused, ifEmpty } = parse(deleteQueueSchema, options, `delete of queue '${name}'`);
      await this.known('queue', name);
      if (!this.catalog.queue(qname)) return 0;
      const local = this.queues.get(qname);
      if (local && !local.leadership) return this.deleteHere(local, { ifUnused, ifEmpty });
      // Elsewhere (a mirrored queue's leader is asked over NATS from its own node too): its leader
      // deletes it, the catalog entry last. Read back here, this node's view shows it gone now rather
      // than when the catalog's watch gets here (and shows it declared anew, should it be meanwhile).
      const held = await this.endpoint(qname).delete({ ifUnused, ifEmpty });
      await this.catalog.refresh('queue', qname);
      return held;
    });
  }

  /** Binds a queue to an exchange: `pattern` is the routing key (direct), a topic pattern, or ignored (fanout). */
  async bindQueue(queue: string, exchange: string, pattern = ''): Promise<void> {
    return this.guard(async () => {
      this.assertRunning();
      await this.known('queue', queue);
      await this.known('exchange', exchange);
      await this.catalog.bind(this.binding(queue, exchange, pattern));
    });
  }

  async unbindQueue(queue: string, exchange: string, pattern = ''): Promise<void> {
    return this.guard(async () => {
      this.assertRunning();
      await this.catalog.unbind(this.binding(queue, exchange, pattern));
    });
  }

  /** Resolves once the message is confirmed: durable in every queue it was routed to. */
  publish(target: Target, body: Body, options: PublishOptions = NO_OPTIONS): Promise<Receipt> {
    // The hot path: validation is synchronous (a bad call is refused before anything is queued) and
    // the confirm's promise is the call's promise, with no async wrapper around it.
    let queues: QueueEndpoint[];
    let item: PublishRequest;
    try {
      this.assertRunning();
      const o = options === NO_OPTIONS ? options : parse(publishSchema, options, 'publish options');
      queues = this.resolve(target);
      const { bytes, contentType } = encodeBody(body);
      const headers = o.headers ? { [CONTENT_TYPE]: contentType, ...o.headers } : contentHeaders(contentType);
      this.assertFits(bytes, o.headers ? headers : undefined);
      item = { id: asMessageId(o.id ?? randomUUID()), headers, priority: o.priority ?? 0, delayMs: o.delayMs, ttlMs: o.ttlMs, size: bytes.length, body: bytes, fresh: o.id === undefined };
    } catch (e) {
      const missing = this.missing(e);
      if (missing) return this.catalog.refresh(...missing).then((found) => (found ? this.publish(target, body, options) : this.refuse(e)));
      return this.refuse(e);
    }
    const { id } = item;
    if (queues.length === 0) {
      this.counters.unroutable++;
      return Promise.resolve({ id, duplicate: false, routed: 0 });
    }
    if (queues.length === 1) return queues[0]!.publish(item, (r) => ({ id, duplicate: r.duplicate, routed: 1 }));
    return Promise.all(queues.map((q) => q.publish(item, (r) => r.duplicate)))
      .then((dups) => ({ id, duplicate: dups.every(Boolean), routed: queues.length }));
  }

  /** Push consumer: a supervised actor runs `handler` for each message. */
  async consume(queue: string, handler: Handler, options: ConsumeOptions = {}): Promise<Consumer> {
    return this.guard(async () => {
      this.assertRunning();
      if (typeof handler !== 'function') throw new InvalidArgument('consume: handler must be a function');
      const o = parse(consumeSchema, options, 'consume options');
      const decide = options.supervision?.decide;
      if (decide !== undefined && typeof decide !== 'function') throw new InvalidArgument('consume options: supervision.decide must be a function');
      await this.known('queue', queue);
      const endpoint = this.endpoint(queue);
      const tag = asConsumerTag(`${this.nodeId}-${randomUUID().slice(0, 8)}`);
      const consumer = new Consumer(tag, endpoint.name, endpoint, (c, closed) => this.consumerClosed(c, closed), o.ackTimeoutMs);
      this.consumers.add(consumer);
      const strategy = oneForOne({
        ...(decide ? { decide } : {}),
        intensity: { maxRestarts: o.supervision?.maxRestarts ?? defaultIntensity.maxRestarts, withinMs: o.supervision?.withinMs ?? defaultIntensity.withinMs },
      });
      const retry = { ...defaultBackoff, minMs: o.retry?.backoffMs ?? defaultBackoff.minMs, maxMs: o.retry?.maxBackoffMs ?? defaultBackoff.maxMs };
      return consumer.start(this.system, this.consumerSupervisor, {
        handler, ack: o.ack, strategy, retry,
      }, o.prefetch);
    });
  }

  /**
   * Pull style: `for await (const msg of node.messages('q')) { ...; await msg.ack(); }`. A message
   * unsettled `ackTimeoutMs` after it reached the consumer (its prefetch buffer included) ends the loop
   * with PreconditionFailed (its messages go back to the queue).
   */
  messages(queue: string, options: { prefetch?: number; ackTimeoutMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<Message, void, undefined> {
    const o = this.guard(() => parse(messagesSchema, options, 'messages options'));
    return messageStream((push) => this.consume(queue, push, { prefetch: o.prefetch, ack: 'manual', ackTimeoutMs: o.ackTimeoutMs }), o.signal);
  }

  stats(): Stats {
    const nodes = this.cluster?.membership.list() ?? [{ nodeId: this.nodeId, up: true, self: true }];
    return collectStats(this.nodeId, this.counters, [...this.queues.values()].map((q) => ({
      name: q.name, state: q.endpoint.ref.alive ? 'running' : 'down', snapshot: q.env.snapshot, recovery: q.env.recovery, rates: this.rates.rates(q.name),
      ...(q.leadership ? { ha: { leader: this.nodeId, epoch: q.leadership.epoch, mirrors: q.leadership.stats() } } : {}),
    })), nodes, this.system.deadLetters.count, Object.fromEntries(this.cluster?.counters.rejected ?? []));
  }

  /**
   * stats() of the whole cluster: this node's queues and every other queue in the catalog, asked of its
   * leader (a leader that does not answer in time is left out). Embedded, the same as stats().
   */
  async clusterStats(): Promise<Stats> {
    const local = this.stats();
    const remote = await Promise.all(this.catalog.queues().filter((d) => !this.queues.has(d.name)).map(async (d) => {
      const stats = await (this.endpoint(d.name) as RemoteEndpoint).stats().catch(() => undefined);
      return stats && (stats as unknown as QueueStats);
    }));
    return { ...local, queues: [...local.queues, ...remote.filter((q): q is QueueStats => q !== undefined)] };
  }

  /** Errors the node handled without failing a call: storage faults, crashed actors, dead-letter failures. */
  onError(listener: (e: Error) => void): () => void {
    this.errorListeners.add(listener);
    return () => void this.errorListeners.delete(listener);
  }

  /**
   * Graceful: cancels consumers (their in-flight handlers finish), flushes queues, closes storage.
   * Every call gets the one stop's promise (a second signal must not cut the first stop short).
   */
  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    this.cluster?.coordinator.retire();
    clearInterval(this.rateSampler);
    for (const remote of this.cluster?.remotes.values() ?? []) remote.windDown();
    await Promise.all([...this.consumers].map((c) => c.cancel()));
    // Publishes still batching leave on this turn; close must queue up behind them.
    await new Promise((r) => setImmediate(r));
    this.cluster?.coordinator.stop();
    for (const server of this.cluster?.servers.values() ?? []) server.stop();
    for (const remote of this.cluster?.remotes.values() ?? []) remote.close();
    await Promise.all([...this.queues.values()].map((q) => q.leadership?.handOff()));
    await Promise.all([...this.queues.values()].map((q) => q.endpoint.close().catch(() => {})));
    await this.cluster?.replicas.stop();
    this.cluster?.answers.close();
    await this.cluster?.meta.close();
    this.system.stop();
    await this.cluster?.membership.stop();
    await this.catalog.close();
    await this.cluster?.transport.close();
    await this.storage.close();
  }

  /** Declares in the catalog (or finds the same declaration there) and opens the queue if it lives here. */
  private async declare(name: QueueName, options: ResolvedQueueOptions): Promise<QueueHandle | undefined> {
    const decl = this.catalog.queue(name) ?? (await this.declareNew(name, options));
    sameOptions(decl, options);
    return opensAt(decl, this.nodeId) ? this.openQueue(name, options) : undefined;
  }

  private async declareNew(name: QueueName, options: ResolvedQueueOptions): Promise<QueueDecl> {
    const home = this.placement();
    if (options.mirrors > 0) await this.declareReplicas(name, home, options);
    return this.catalog.declareQueue({ name, options, home });
  }

  /** A mirrored queue's metadata, before its declaration: the nodes that see the declaration find it. */
  private async declareReplicas(name: QueueName, leader: NodeId, options: ResolvedQueueOptions): Promise<void> {
    const cluster = this.cluster!;
    const choose = () => chooseReplicas(leader, options.mirrors, cluster.membership.servers().map(asNodeId), (n) => this.catalog.queues().filter((q) => q.home === n).length);
    // A node that has just started may not have heard from its peers yet: one heartbeat round more.
    let replicas = choose();
    if (!replicas) await cluster.membership.heardFromAll();
    replicas ??= choose();
    if (!replicas) throw new NotConfirmed(`queue '${name}': ${options.mirrors} mirrors need ${options.mirrors + 1} server nodes up, ${cluster.membership.servers().length} are`);
    await cluster.meta.create(name, { leader, epoch: 0, replicas, inSync: [leader], minInSync: minInSyncOf(options) });
  }

  /** The coordinator gave this node the lead of a mirrored queue: open it over its replica's log. */
  private async lead(name: QueueName, won: Versioned): Promise<void> {
    const cluster = this.cluster!;
    if (!this.running) return;
    // Epoch 1 is the first claim of a new queue's metadata (every later one raises it).
    const held = await cluster.replicas.lead(name, won.meta.epoch === 1);
    if (!this.catalog.queue(name)) await this.catalog.refresh('queue', name);
    if (!this.running) return;
    const decl = this.catalog.queue(name);
    if (!decl) throw new QueueNotFound(name);
    const sender = new FrameSender(cluster.transport, cluster.subjects, cluster.answers, name, () => leadership.epoch, REPLICATE_TIMEOUT_MS);
    const requests = (node: NodeId): MirrorRequests => ({
      position: () => cluster.replicas.position(name, node),
      resume: (session, from) => cluster.replicas.resume(name, node, leadership.epoch, session, from),
    });
    const leadership: Leadership = new Leadership(name, this.nodeId, cluster.meta, won, (node) => sender.to(node), (why) => void (why === 'failed' ? this.leadFailed(name) : this.giveUp(name)), defaultLeadership, { requests, ...(held ? { held } : {}) });
    await this.openQueue(name, decl.options, leadership);
    // The node began to stop meanwhile, after it handed its queues over: this one is not led either.
    if (!this.running) leadership.stop();
  }

  /**
   * Deposed, or not able to lead: the queue closes here (what waited is refused), and this node's copy
   * follows the leader the metadata names; when that is this node still, the coordinator claims it anew.
   */
  private async giveUp(name: QueueName, why: Error = new NotConfirmed(`queue '${name}': this node was deposed as its leader`), pauseMs = 0): Promise<void> {
    const cluster = this.cluster!;
    const handle = this.unserve(name);
    await handle?.endpoint.close().catch(() => {});
    handle?.endpoint.ref.stop();
    cluster.coordinator.released(name, pauseMs);
    cluster.replicas.follow(name);
    this.fault('queue', why);
  }

  /**
   * This node stepped down from a mirrored queue's lead (its disk failed, or its queue actor was given
   * up) and no in-sync mirror took it: it gives the queue up, and claims it again after a pause, which
   * grows while the fault lasts.
   */
  private async leadFailed(name: QueueName): Promise<void> {
    if (!this.running) return; // stopping: the queue closes with the node
    const pause = this.reopenPause(name);
    return this.giveUp(name, new NotConfirmed(`queue '${name}': its leader here stepped down and no in-sync mirror took the lead; this node claims it again in ${Math.round(pause / 1000)} s`), pause);
  }

  /** How long a queue that failed here waits before it opens again: longer the more it failed lately. */
  private reopenPause(name: QueueName): number {
    const downs = recordRestart(this.downs.get(name) ?? [], Date.now(), { maxRestarts: Number.POSITIVE_INFINITY, withinMs: REOPEN_MEMORY_MS }).history;
    this.downs.set(name, downs);
    return backoffDelay(downs.length, QUEUE_REOPEN);
  }

  /**
   * Deletes a queue this node leads. Its actor checks the conditions and destroys its log in one turn,
   * so nothing slips in between (one that is down goes without it: deleteDown); then the lease ends and
   * the metadata goes (every mirror destroys its copy: metaRemoved), and last the catalog entry, which
   * every node sees (forget).
   */
  private async deleteHere(handle: QueueHandle, conditions: DeleteConditions): Promise<number> {
    const held = handle.down ? await this.deleteDown(handle, conditions) : await handle.endpoint.delete(conditions);
    if (handle.leadership) {
      handle.leadership.stop();
      await this.cluster!.meta.delete(handle.name);
    }
    await this.catalog.deleteQueue(handle.name);
    return held;
  }

  /**
   * A queue whose actor is down (its log does not open, or it kept crashing) is deleted without it:
   * its files go as they are. What they hold cannot be read, so it counts as none and `ifEmpty` is
   * refused.
   */
  private async deleteDown(handle: QueueHandle, { ifUnused, ifEmpty }: DeleteConditions): Promise<number> {
    const { name } = handle;
    // Its lead is moving to a mirror that holds what it held: the delete is that leader's to do.
    if (handle.leadership) throw new Stopped(`queue '${name}' is down on this node, which hands its lead over: delete it again in a moment`);
    if (ifEmpty) throw new Stopped(`queue '${name}' is down: whether it is empty cannot be told (ifEmpty)`);
    const consumers = handle.env.subscribers.size;
    if (ifUnused && consumers > 0) throw queueInUse(name, consumers);
    this.unserve(name); // its reopening, due after a pause, finds it gone
    await (handle.options.durable ? this.storage : this.volatile).destroyQueue(name);
    return 0;
  }

  /** The queue no longer serves from this node: its server, its handle (returned) and its rates go. */
  private unserve(name: QueueName): QueueHandle | undefined {
    const handle = this.queues.get(name);
    this.cluster?.servers.get(name)?.stop();
    this.cluster?.servers.delete(name);
    this.queues.delete(name);
    this.rates.forget(name);
    return handle;
  }

  /** A deleted queue's last traces on this node, whichever node deleted it. */
  private forget(name: QueueName): void {
    const handle = this.unserve(name);
    this.downs.delete(name);
    this.cluster?.remotes.get(name)?.close();
    this.cluster?.remotes.delete(name);
    handle?.leadership?.stop();
    handle?.endpoint.ref.stop();
    for (const c of this.consumers) if (c.queue === name) void c.queueDeleted();
  }

  /**
   * Another node stopped or went silent: what its consumers held goes back to the queues, and the
   * queues led here stop counting on its mirrors at once (idle, they would notice it only at their next
   * append).
   */
  private nodeDown(node: NodeId): void {
    for (const server of this.cluster!.servers.values()) void server.nodeDown(node);
    for (const handle of this.queues.values()) handle.leadership?.mirrorDown(node);
  }

  /**
   * Copies of queues deleted while this node was away (it missed the metadata's removal): their data
   * goes. Run before anything opens here, so every folder is from before this start; a queue that is
   * neither declared nor mirrored (its metadata comes before its declaration) was deleted. A lookup
   * that fails keeps everything: only a sure answer removes data.
   */
  private async dropDeleted(): Promise<void> {
    try {
      for (const name of await this.storage.storedQueues()) {
        if (this.catalog.queue(name) || (await this.cluster!.meta.get(name))) continue;
        await this.storage.destroyQueue(name);
      }
    } catch (err) {
      this.fault('storage', err);
    }
  }

  /** A mirrored queue was deleted: a replica of it destroys its copy. */
  private metaRemoved(name: QueueName, last: Versioned): void {
    const cluster = this.cluster!;
    if (cluster.role === 'server' && last.meta.replicas.includes(this.nodeId)) void cluster.replicas.destroy(name).catch((e) => this.fault('queue', e));
  }

  /** Metadata of a mirrored queue changed somewhere: fence old epochs, follow a new leader. */
  private metaChanged(name: QueueName, v: Versioned): void {
    const cluster = this.cluster!;
    cluster.replicas.fence(name, v.meta.epoch);
    this.queues.get(name)?.leadership?.observe(v);
    cluster.remotes.get(name)?.failover(v.meta.epoch);
  }

  /** Starts the queue actor of a queue whose home is this node; recovers it from its log. */
  private async openQueue(name: QueueName, options: ResolvedQueueOptions, leadership?: Leadership): Promise<QueueHandle> {
    const existing = this.queues.get(name);
    if (existing) return existing;
    const store = options.durable ? this.storage : this.volatile;
    const env: QueueEnv = {
      config: toConfig(name, options),
      openLog: leadership ? async () => leadership.wrap(await store.openQueue(name)) : () => store.openQueue(name),
      deadLetter: (messages) => this.deadLetter(name, options, messages),
      bodyBudget: store instanceof MemoryStorage ? Number.POSITIVE_INFINITY : BODY_BUDGET_BYTES,
      ...(leadership ? { committed: () => leadership.messagesCommitted() } : {}),
      subscribers: new Map(),
      onError: (e) => this.fault('queue', e),
      onStopped: () => { if (this.running && this.queues.get(name) === handle) void this.queueDown(handle); },
    };
    const ref = this.system.spawn(this.queueSupervisor, `q-${name}`, queueBehavior(env));
    const handle: QueueHandle = { name, options, endpoint: new LocalEndpoint(name, ref, env.subscribers), env, ...(leadership ? { leadership } : {}), down: false };
    this.queues.set(name, handle);
    await handle.endpoint.open();
    // The first sample: work in the queue's first second shows in its rates from the next one.
    this.sampleRates(handle, Date.now());
    if (this.cluster) {
      const server = new QueueServer(this.cluster.transport, this.cluster.subjects, handle.endpoint, this.cluster.counters, () => ({ ...this.stats().queues.find((q) => q.name === name) }), (conditions) => this.deleteHere(handle, conditions), () => leadership?.epoch ?? 0, (node) => this.cluster?.membership.expect(node));
      this.cluster.servers.set(name, server);
      server.start();
    }
    return handle;
  }

  /**
   * The supervisor gave the queue's actor up while the node runs on (its log is closed by then). A
   * mirrored queue hands the lead to an in-sync mirror that holds everything confirmed, and this node
   * follows it. Otherwise the queue opens again after a pause (QUEUE_REOPEN), recovered from its log:
   * meanwhile its operations fail with Stopped; its consumers stay subscribed.
   */
  private async queueDown(handle: QueueHandle): Promise<void> {
    const { name } = handle;
    handle.down = true;
    // A mirrored queue's lead goes to an in-sync mirror, or back to this node after a pause (leadFailed).
    if (handle.leadership) {
      this.fault('queue', new Stopped(`queue '${name}' (its actor kept failing; an in-sync mirror takes the lead, or this node claims it again after a pause)`));
      return handle.leadership.stepDown();
    }
    const pause = this.reopenPause(name);
    this.fault('queue', new Stopped(`queue '${name}' (its actor kept failing; it opens again in ${Math.round(pause / 1000)} s)`));
    await new Promise((r) => setTimeout(r, pause).unref());
    if (!this.running || this.queues.get(name) !== handle) return; // stopping
    const ref = this.system.spawn(this.queueSupervisor, `q-${name}`, queueBehavior(handle.env));
    handle.endpoint.rebind(ref);
    handle.down = false;
    await handle.endpoint.open().catch((e: unknown) => this.fault('queue', e));
  }

  /** Dead letters keep their id and say where they came from, which tells a retried move from a new one (dedupKey). */
  private async deadLetter(from: QueueName, options: ResolvedQueueOptions, messages: Parameters<QueueEnv['deadLetter']>[0]): Promise<void> {
    this.assertRunning(); // a stopped node's queue actor gives up its retries (Stopped)
    const dlq = await this.deadLetterQueue(asQueue(options.deadLetterQueue ?? `${from}.dlq`), options);
    await Promise.all(messages.map(({ message: { meta, body }, reason, deliveryCount }) => dlq.publish({
      id: meta.id,
      priority: meta.priority,
      body,
      size: body.length,
      headers: {
        ...meta.headers, 'x-death-reason': reason, 'x-death-queue': from, 'x-death-count': String(deliveryCount),
        'x-death-seq': String(meta.seq), 'x-death-enqueued-at': String(meta.enqueuedAt),
      },
    }, () => undefined)));
  }

  /**
   * The dead-letter queue, declared if it does not exist yet: default options, but as durable and as
   * mirrored as its source (a mirrored queue's dead letters must survive what the queue survives).
   */
  private async deadLetterQueue(name: QueueName, source: ResolvedQueueOptions): Promise<QueueEndpoint> {
    const { durable, mirrors, minInSync } = source;
    if (!this.catalog.queue(name)) await this.declare(name, parse(queueSchema, { durable, mirrors, ...(minInSync !== undefined ? { minInSync } : {}) }, 'dead-letter queue'));
    return this.endpoint(name);
  }

  private resolve(target: Target): QueueEndpoint[] {
    if (typeof target !== 'object' || target === null) throw new InvalidArgument('publish target must be { queue } or { exchange, routingKey }');
    if ('queue' in target) return [this.endpoint(target.queue)];
    if ('exchange' in target) {
      const ename = asExchange(checkName('exchange', target.exchange));
      if (this.catalog.exchanges.typeOf(ename) === undefined) throw new ExchangeNotFound(target.exchange);
      const key = target.routingKey ?? '';
      const bad = badRoutingKey('routingKey', key);
      if (bad) throw new InvalidArgument(bad);
      return this.catalog.exchanges.route(ename, key).flatMap((q) => (this.catalog.queue(q) ? [this.endpoint(q)] : []));
    }
    throw new InvalidArgument('publish target must be { queue } or { exchange, routingKey }');
  }

  /**
   * Where a new queue lives: a server node keeps the queues it declares (the service that declares a
   * queue is usually the one that uses it); a client puts it on the up server holding the fewest.
   */
  private placement(): NodeId {
    if (this.cluster?.role !== 'client') return this.nodeId;
    const servers = this.cluster.membership.servers();
    if (servers.length === 0) throw new NotConfirmed('no server node is up to hold the queue');
    const load = (n: string) => this.catalog.queues().filter((q) => q.home === n).length;
    return asNodeId(servers.reduce((best, n) => (load(n) < load(best) ? n : best)));
  }

  /** The way to a queue: its actor when it lives here, its leader over NATS otherwise. */
  private endpoint(name: string): QueueEndpoint {
    // A queue that exists here has a valid name: the check is for the names that miss.
    const local = this.queues.get(name as QueueName);
    // A mirrored queue is always reached over NATS, even from its leader's node: its leader may change.
    if (local && !local.leadership) return local.endpoint;
    const qname = asQueue(checkName('queue', name));
    const decl = this.catalog.queue(qname);
    if (!decl) throw new QueueNotFound(name);
    if (opensAt(decl, this.nodeId)) return this.queues.get(qname)?.endpoint ?? this.unavailable(qname);
    if (!this.cluster) throw new QueueNotFound(name);
    let remote = this.cluster.remotes.get(qname);
    if (!remote) {
      const epoch = this.cluster.coordinator.meta(qname)?.meta.epoch ?? 0;
      this.cluster.remotes.set(qname, (remote = new RemoteEndpoint(qname, this.cluster.transport, this.cluster.subjects, this.nodeId, (e) => this.fault('queue', e), defaultRemote, epoch)));
    }
    return remote;
  }

  private unavailable(name: QueueName): never {
    throw new Stopped(`queue '${name}' (not open on this node)`);
  }

  private binding(queue: string, exchange: string, pattern: string) {
    const q = this.endpoint(queue).name;
    const e = asExchange(checkName('exchange', exchange));
    if (this.catalog.exchanges.typeOf(e) === undefined) throw new ExchangeNotFound(exchange);
    const bad = badRoutingKey('binding pattern', pattern);
    if (bad) throw new InvalidArgument(bad);
    return { exchange: e, queue: q, pattern };
  }

  private sampleRates(q: QueueHandle, at: number): void {
    this.rates.sample(q.name, at, q.env.snapshot?.counters ?? { published: 0, delivered: 0, acked: 0 });
  }

  private consumerClosed(c: Consumer, closed: ConsumerClosed): void {
    this.consumers.delete(c);
    if (closed.reason === 'failed' || closed.reason === 'ack-timeout') this.fault('consumer', closed.error);
  }

  fault(where: string, error: unknown): void {
    this.counters.errors++;
    const e = error instanceof Error ? error : new Error(String(error));
    if (this.errorListeners.size === 0) console.warn(`warren ${this.nodeId}: ${where}: ${e.message}`);
    for (const l of this.errorListeners) l(e);
  }

  /**
   * A body no bigger than MAX_BODY_BYTES, and, in distributed mode, one that a NATS message carries
   * with its headers (`headers`: given by the caller; the node's own content-type fits in FRAME_ROOM):
   * a bigger one could reach a queue on this node but neither its mirrors nor a consumer elsewhere.
   */
  private assertFits(bytes: Uint8Array, headers: Headers | undefined): void {
    const why = overPayload(bytes.length, headers, this.cluster?.transport.maxPayload);
    if (why) throw new InvalidArgument(why);
  }

  private assertRunning(): void {
    if (!this.running) throw new Stopped(`node '${this.nodeId}'`);
  }

  /** Bad input is counted; it never gets past the edge. */
  private guard<T>(f: () => T): T {
    const count = (e: unknown) => {
      // A call a stop overtook fails as the stop makes it fail, whatever broke inside (an actor gone).
      if (!this.running && !(e instanceof WarrenError)) throw new Stopped(`node '${this.nodeId}'`, { cause: e });
      this.countInvalid(e);
      throw e;
    };
    try {
      const r = f();
      return (r instanceof Promise ? r.catch(count) : r) as T;
    } catch (e) {
      return count(e);
    }
  }

  /** Makes sure the view has a name declared elsewhere a moment ago (a no-op when it has it). */
  private async known(kind: 'queue' | 'exchange', name: string): Promise<void> {
    const checked = checkName(kind, name);
    const seen = kind === 'queue' ? this.catalog.queue(checked as QueueName) : this.catalog.exchanges.typeOf(checked as ExchangeName);
    if (!seen && this.cluster) await this.catalog.refresh(kind, checked);
  }

  /** A queue or exchange this node has not seen: in a cluster, it may have been declared a moment ago elsewhere. */
  private missing(e: unknown): ['queue' | 'exchange', string] | undefined {
    if (!this.cluster) return undefined;
    if (e instanceof QueueNotFound) return ['queue', e.queue];
    if (e instanceof ExchangeNotFound) return ['exchange', e.exchange];
    return undefined;
  }

  private refuse(e: unknown): Promise<never> {
    this.countInvalid(e);
    return Promise.reject(e);
  }

  private countInvalid(e: unknown): void {
    if (e instanceof WarrenError && ['INVALID_NAME', 'INVALID_ARGUMENT', 'QUEUE_NOT_FOUND', 'EXCHANGE_NOT_FOUND'].includes(e.code)) this.counters.invalidInput++;
  }
}

/** A queue without mirrors lives on its home node; a mirrored one opens where its current leader is. */
/** A queue declared again must be declared as it is: PreconditionFailed otherwise (as queue.declare in AMQP). */
function sameOptions(decl: QueueDecl, options: ResolvedQueueOptions): void {
  if (JSON.stringify(decl.options) !== JSON.stringify(options)) throw new PreconditionFailed(`queue '${decl.name}' exists with other options: ${JSON.stringify(decl.options)}`);
}

function opensAt(decl: QueueDecl, node: NodeId): boolean {
  return decl.home === node && decl.options.mirrors === 0;
}

/** By default a majority of the replicas, as a quorum queue: a minority can fail without a loss. */
function minInSyncOf(o: ResolvedQueueOptions): number {
  return o.minInSync ?? Math.floor((o.mirrors + 1) / 2) + 1;
}

function toConfig(name: QueueName, o: ResolvedQueueOptions): QueueConfig {
  return {
    name,
    maxDeliveries: o.maxDeliveries,
    overflow: o.overflow,
    singleActiveConsumer: o.singleActiveConsumer,
    // The window must outlast a producer's retries: by default 15 minutes or 100,000 ids.
    dedupWindow: { count: o.dedupWindow?.count ?? 100_000, ms: o.dedupWindow?.ms ?? 15 * 60_000 },
    ...(o.messageTtlMs !== undefined ? { messageTtlMs: o.messageTtlMs } : {}),
    ...(o.maxLength !== undefined ? { maxLength: o.maxLength } : {}),
    ...(o.deadLetterQueue !== undefined ? { deadLetterQueue: asQueue(o.deadLetterQueue) } : {}),
  };
}
