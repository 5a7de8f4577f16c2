// The embedded catalog: this node is the home of every queue; durable declarations are saved with
// the node's storage, so they survive a restart.
import { asExchange, asQueue, type ExchangeName, type NodeId, type QueueName } from '../node/ids.ts';
import { parse, queueSchema } from '../node/options.ts';
import type { Storage } from '../storage/storage.ts';
import { ViewCatalog, type Catalog, type CatalogChange, type QueueDecl } from './catalog.ts';
import type { Binding, ExchangeType } from './exchanges.ts';

export class LocalCatalog extends ViewCatalog implements Catalog {

  private constructor(private readonly storage: Storage) {
    super();
  }

  static async open(storage: Storage, home: NodeId): Promise<LocalCatalog> {
    const c = new LocalCatalog(storage);
    const t = await storage.loadTopology();
    for (const e of t?.exchanges ?? []) c.view.apply({ type: 'exchange', name: asExchange(e.name), exchangeType: e.type as ExchangeType });
    for (const q of t?.queues ?? []) c.view.apply({ type: 'queue', decl: { name: asQueue(q.name), options: parse(queueSchema, q.options, `stored queue '${q.name}'`), home } });
    for (const b of t?.bindings ?? []) c.view.apply({ type: 'binding', binding: { exchange: asExchange(b.exchange), queue: asQueue(b.queue), pattern: b.pattern } });
    return c;
  }

  async declareQueue(decl: QueueDecl): Promise<QueueDecl> {
    const existing = this.view.queue(decl.name);
    if (existing) return existing;
    await this.change({ type: 'queue', decl });
    return decl;
  }

  async declareExchange(name: ExchangeName, type: ExchangeType): Promise<ExchangeType> {
    const existing = this.view.exchanges.typeOf(name);
    if (existing) return existing;
    await this.change({ type: 'exchange', name, exchangeType: type });
    return type;
  }

  bind(binding: Binding): Promise<void> {
    return this.change({ type: 'binding', binding });
  }

  unbind(binding: Binding): Promise<void> {
    return this.change({ type: 'unbinding', binding });
  }

  deleteQueue(name: QueueName): Promise<void> {
    return this.change({ type: 'queue-deleted', name });
  }

  deleteExchange(name: ExchangeName): Promise<void> {
    return this.change({ type: 'exchange-deleted', name });
  }

  async refresh(kind: 'queue' | 'exchange', name: string): Promise<boolean> {
    return kind === 'queue' ? this.view.queue(name as QueueDecl['name']) !== undefined : this.view.exchanges.typeOf(name as ExchangeName) !== undefined;
  }

  async close(): Promise<void> {}

  private async change(c: CatalogChange): Promise<void> {
    this.view.apply(c);
    const durable = new Set(this.view.queues().filter((q) => q.options.durable).map((q) => q.name));
    const { exchanges, bindings } = this.view.exchanges.snapshot();
    await this.storage.saveTopology({
      queues: this.view.queues().filter((q) => durable.has(q.name)).map((q) => ({ name: q.name, options: { ...q.options } })),
      exchanges,
      bindings: bindings.filter((b) => durable.has(b.queue)),
    });
  }
}
