// The catalog: what is declared (queues with their home node, exchanges, bindings). Embedded, it lives
// in this process and is saved with the node's storage; distributed, it lives in NATS JetStream KV so
// that every node sees one catalog and declarations race safely (create-if-absent).
import type { ExchangeName, NodeId, QueueName } from '../node/ids.ts';
import type { ResolvedQueueOptions } from '../node/options.ts';
import { Exchanges, type Binding, type ExchangeType } from './exchanges.ts';

export interface QueueDecl {
  readonly name: QueueName;
  readonly options: ResolvedQueueOptions;
  /** The node that holds the queue (its leader). */
  readonly home: NodeId;
}

export type CatalogChange =
  | { readonly type: 'queue'; readonly decl: QueueDecl }
  | { readonly type: 'queue-deleted'; readonly name: QueueName }
  | { readonly type: 'exchange'; readonly name: ExchangeName; readonly exchangeType: ExchangeType }
  | { readonly type: 'exchange-deleted'; readonly name: ExchangeName }
  | { readonly type: 'binding'; readonly binding: Binding }
  | { readonly type: 'unbinding'; readonly binding: Binding };

export interface Catalog {
  /** Declares the queue unless it exists; returns what is declared (compare the options). */
  declareQueue(decl: QueueDecl): Promise<QueueDecl>;
  /** Declares the exchange unless it exists; returns the declared type. */
  declareExchange(name: ExchangeName, type: ExchangeType): Promise<ExchangeType>;
  bind(b: Binding): Promise<void>;
  unbind(b: Binding): Promise<void>;
  /** Removes the queue and its bindings (a no-op for one that is not declared). */
  deleteQueue(name: QueueName): Promise<void>;
  /** Removes the exchange and its bindings (a no-op for one that is not declared). */
  deleteExchange(name: ExchangeName): Promise<void>;
  queue(name: QueueName): QueueDecl | undefined;
  queues(): readonly QueueDecl[];
  /**
   * Looks a name up at the source when the local view does not have it yet (a declaration made on
   * another node a moment ago); true when found, and then the view has it. One deleted at the source
   * leaves the view.
   */
  refresh(kind: 'queue' | 'exchange', name: string): Promise<boolean>;
  readonly exchanges: Exchanges;
  /** Changes made anywhere in the cluster (this node's included), as they become visible here. */
  onChange(listener: (c: CatalogChange) => void): () => void;
  close(): Promise<void>;
}

/** The local view every catalog keeps: a map of queues and the routing table. */
export class CatalogView {
  readonly exchanges = new Exchanges();
  private readonly decls = new Map<QueueName, QueueDecl>();
  private readonly listeners = new Set<(c: CatalogChange) => void>();

  queue(name: QueueName): QueueDecl | undefined {
    return this.decls.get(name);
  }

  queues(): readonly QueueDecl[] {
    return [...this.decls.values()];
  }

  apply(c: CatalogChange): void {
    switch (c.type) {
      case 'queue': this.decls.set(c.decl.name, c.decl); break;
      case 'queue-deleted': this.decls.delete(c.name); this.exchanges.forgetQueue(c.name); break;
      case 'exchange': this.exchanges.declare(c.name, c.exchangeType); break;
      case 'exchange-deleted': this.exchanges.forget(c.name); break;
      case 'binding': this.exchanges.bind(c.binding); break;
      case 'unbinding': this.exchanges.unbind(c.binding); break;
    }
    for (const l of this.listeners) l(c);
  }

  onChange(listener: (c: CatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}

/** The reads every catalog answers from its local view; subclasses say how declarations are made. */
export abstract class ViewCatalog {
  protected readonly view = new CatalogView();

  get exchanges(): Exchanges { return this.view.exchanges; }
  queue(name: QueueName): QueueDecl | undefined { return this.view.queue(name); }
  queues(): readonly QueueDecl[] { return this.view.queues(); }
  onChange(listener: (c: CatalogChange) => void): () => void { return this.view.onChange(listener); }
}
