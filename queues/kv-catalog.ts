// The distributed catalog: declarations in a NATS JetStream KV bucket, one key each. Declaring is
// create-if-absent (two nodes racing get one winner, and both see it); every node watches the bucket
// and keeps the same local view.
import type { KV, KvEntry, NatsConnection } from 'nats';
import { z } from 'zod';
import { ExchangeNotFound, QueueNotFound } from '../node/errors.ts';
import { asExchange, asNodeId, asQueue, type ExchangeName, type QueueName } from '../node/ids.ts';
import { queueSchema } from '../node/options.ts';
import { ViewCatalog, type Catalog, type QueueDecl } from './catalog.ts';
import type { Binding, ExchangeType } from './exchanges.ts';

const queueValue = z.object({ name: z.string(), home: z.string(), options: queueSchema });
const exchangeValue = z.object({ name: z.string(), type: z.enum(['direct', 'fanout', 'topic']) });
const bindingValue = z.object({ exchange: z.string(), queue: z.string(), pattern: z.string() });

const bindingKeyValue = z.tuple([z.string(), z.string(), z.string()]);
const parseJson = (text: string): unknown => { try { return JSON.parse(text); } catch { return undefined; } };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** KV keys allow [-/_=.a-zA-Z0-9]: names go in as base64url. */
const key = (kind: 'q' | 'x' | 'b', name: string) => `${kind}.${Buffer.from(name).toString('base64url') || '_'}`;
const bindingKey = (b: Binding) => key('b', JSON.stringify([b.exchange, b.queue, b.pattern]));
const nameOf = (k: string) => Buffer.from(k.slice(2), 'base64url').toString();
/** The binding a 'b.' key names, or undefined for one that Warren did not write. */
function bindingOf(k: string): Binding | undefined {
  const b = bindingKeyValue.safeParse(parseJson(nameOf(k)));
  return b.success ? { exchange: asExchange(b.data[0]), queue: asQueue(b.data[1]), pattern: b.data[2] } : undefined;
}

export class KvCatalog extends ViewCatalog implements Catalog {
  /** Entries that did not parse: written by something other than Warren. */
  rejected = 0;

  private constructor(private readonly kv: KV, private readonly bindingKeys: () => Promise<string[]>, private readonly stopWatching: () => void) {
    super();
  }

  static async open(nc: NatsConnection, cluster: string): Promise<KvCatalog> {
    const bucket = `warren_${cluster}`;
    const kv = await nc.jetstream().views.kv(bucket, { history: 1 });
    const jsm = await nc.jetstreamManager();
    // The bucket's binding keys from its stream's subjects, in requests that time out: kv.keys(), an
    // ordered consumer, was seen to wait for ever when keys were deleted while it listed them. Deleted
    // keys are listed too (a delete is a message); deleting one again does no harm.
    const prefix = `$KV.${bucket}.`;
    const bindingKeys = async () => Object.keys((await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}b.>` })).state.subjects ?? {}).map((s) => s.slice(prefix.length));
    let ready!: () => void;
    const initialized = new Promise<void>((r) => (ready = r));
    const watch = await kv.watch({ key: '>', initializedFn: () => ready() });
    const c = new KvCatalog(kv, bindingKeys, () => watch.stop());
    void (async () => { for await (const e of watch) c.applyEntry(e); })();
    await initialized;
    // initializedFn fires once the last existing entry is queued; let the loop above apply it.
    await new Promise((r) => setImmediate(r));
    return c;
  }

  async declareQueue(decl: QueueDecl): Promise<QueueDecl> {
    const k = key('q', decl.name);
    if (await this.create(k, { name: decl.name, home: decl.home, options: decl.options })) {
      this.view.apply({ type: 'queue', decl });
      return decl;
    }
    const existing = await this.kv.get(k);
    const parsed = existing && queueValue.safeParse(existing.json());
    if (!parsed?.success) throw new Error(`catalog entry of queue '${decl.name}' is unreadable`);
    return { name: asQueue(parsed.data.name), home: asNodeId(parsed.data.home), options: parsed.data.options };
  }

  async declareExchange(name: ExchangeName, type: ExchangeType): Promise<ExchangeType> {
    const k = key('x', name);
    if (await this.create(k, { name, type })) {
      this.view.apply({ type: 'exchange', name, exchangeType: type });
      return type;
    }
    const parsed = exchangeValue.safeParse((await this.kv.get(k))?.json());
    if (!parsed.success) throw new Error(`catalog entry of exchange '${name}' is unreadable`);
    return parsed.data.type;
  }

  /**
   * Written, then both ends read back. A delete of either end reads the bindings back after its own
   * delete (unbindStored), so of a bind and a delete that race, one sees the other: no binding outlives
   * its exchange or its queue, to come back to life when a namesake is declared.
   */
  async bind(binding: Binding): Promise<void> {
    await this.kv.put(bindingKey(binding), encoder.encode(JSON.stringify(binding)));
    this.view.apply({ type: 'binding', binding });
    let ends: [boolean, boolean];
    try {
      ends = await Promise.all([this.stored(key('q', binding.queue)), this.stored(key('x', binding.exchange))]);
    } catch (err) {
      await this.unbind(binding).catch(() => {}); // not read back, not kept: the caller sees the bind fail
      throw err;
    }
    const [queue, exchange] = ends;
    if (queue && exchange) return;
    await this.unbind(binding);
    throw queue ? new ExchangeNotFound(binding.exchange) : new QueueNotFound(binding.queue);
  }

  async unbind(binding: Binding): Promise<void> {
    await this.kv.delete(bindingKey(binding));
    this.view.apply({ type: 'unbinding', binding });
  }

  /** The bindings first: no node routes to the queue once it is gone. Other nodes see the deletes through their watch. */
  async deleteQueue(name: QueueName): Promise<void> {
    for (const b of this.view.exchanges.bindingsOf({ queue: name })) await this.unbind(b);
    await this.kv.delete(key('q', name));
    if (this.view.queue(name)) this.view.apply({ type: 'queue-deleted', name });
    await this.unbindStored((b) => b.queue === name);
  }

  async deleteExchange(name: ExchangeName): Promise<void> {
    for (const b of this.view.exchanges.bindingsOf({ exchange: name })) await this.unbind(b);
    await this.kv.delete(key('x', name));
    if (this.view.exchanges.typeOf(name)) this.view.apply({ type: 'exchange-deleted', name });
    await this.unbindStored((b) => b.exchange === name);
  }

  async refresh(kind: 'queue' | 'exchange', name: string): Promise<boolean> {
    const k = key(kind === 'queue' ? 'q' : 'x', name);
    const entry = await this.kv.get(k).catch(() => undefined);
    if (entry === undefined) return false; // not read: the view stays as it is
    if (entry?.operation === 'PUT') this.applyEntry(entry);
    else this.applyDeletion(k); // deleted, or never there: the view must not show it either
    return entry?.operation === 'PUT';
  }

  async close(): Promise<void> {
    this.stopWatching();
  }

  private async stored(k: string): Promise<boolean> {
    return (await this.kv.get(k))?.operation === 'PUT';
  }

  /** The bucket's bindings, read after a delete: it may hold some made elsewhere that the view has not seen yet. */
  private async unbindStored(doomed: (b: Binding) => boolean): Promise<void> {
    const found: Binding[] = [];
    for (const k of await this.bindingKeys()) {
      const binding = bindingOf(k);
      if (binding && doomed(binding)) found.push(binding);
    }
    for (const b of found) await this.unbind(b);
  }

  /** false when the key exists already. */
  private async create(k: string, value: unknown): Promise<boolean> {
    try {
      await this.kv.create(k, encoder.encode(JSON.stringify(value)));
      return true;
    } catch (err) {
      if ((await this.kv.get(k).catch(() => null))?.operation === 'PUT') return false;
      throw err;
    }
  }

  /** Applied once more on the node that deleted: a no-op there. */
  private applyDeletion(k: string): void {
    const kind = k.slice(0, 1);
    const binding = kind === 'b' ? bindingOf(k) : undefined;
    if (binding) this.view.apply({ type: 'unbinding', binding });
    else if (kind === 'q' && this.view.queue(asQueue(nameOf(k)))) this.view.apply({ type: 'queue-deleted', name: asQueue(nameOf(k)) });
    else if (kind === 'x' && this.view.exchanges.typeOf(asExchange(nameOf(k)))) this.view.apply({ type: 'exchange-deleted', name: asExchange(nameOf(k)) });
  }

  private applyEntry(e: KvEntry): void {
    const kind = e.key.slice(0, 1);
    if (e.operation !== 'PUT') return this.applyDeletion(e.key);
    const value = parseJson(decoder.decode(e.value));
    const q = kind === 'q' ? queueValue.safeParse(value) : undefined;
    const x = kind === 'x' ? exchangeValue.safeParse(value) : undefined;
    const b = kind === 'b' ? bindingValue.safeParse(value) : undefined;
    if (q?.success) this.view.apply({ type: 'queue', decl: { name: asQueue(q.data.name), home: asNodeId(q.data.home), options: q.data.options } });
    else if (x?.success) this.view.apply({ type: 'exchange', name: asExchange(x.data.name), exchangeType: x.data.type });
    else if (b?.success) this.view.apply({ type: 'binding', binding: { exchange: asExchange(b.data.exchange), queue: asQueue(b.data.queue), pattern: b.data.pattern } });
    else this.rejected++;
  }
}
