// Exchanges and bindings: the routing table that decouples producers from the queues that consume.
// Pure data; the node keeps one and persists it as part of the topology.
import type { ExchangeName, QueueName } from '../node/ids.ts';
import { topicMatches } from './topic.ts';

export type ExchangeType = 'direct' | 'fanout' | 'topic';

export interface Binding {
  readonly exchange: ExchangeName;
  readonly queue: QueueName;
  readonly pattern: string;
}

export class Exchanges {
  private readonly types = new Map<ExchangeName, ExchangeType>();
  private readonly bindings = new Map<ExchangeName, Binding[]>();

  declare(name: ExchangeName, type: ExchangeType): void {
    this.types.set(name, type);
    if (!this.bindings.has(name)) this.bindings.set(name, []);
  }

  typeOf(name: ExchangeName): ExchangeType | undefined {
    return this.types.get(name);
  }

  /** Binding twice is a no-op, as in RabbitMQ. */
  bind(b: Binding): void {
    const list = this.bindings.get(b.exchange) ?? [];
    if (!list.some((x) => x.queue === b.queue && x.pattern === b.pattern)) list.push(b);
    this.bindings.set(b.exchange, list);
  }

  unbind(b: Binding): void {
    const list = this.bindings.get(b.exchange) ?? [];
    this.bindings.set(b.exchange, list.filter((x) => !(x.queue === b.queue && x.pattern === b.pattern)));
  }

  /** A deleted exchange goes with its bindings. */
  forget(exchange: ExchangeName): void {
    this.types.delete(exchange);
    this.bindings.delete(exchange);
  }

  /** The bindings of an exchange (as source) or of a queue (as destination). */
  bindingsOf(name: { readonly exchange: ExchangeName } | { readonly queue: QueueName }): Binding[] {
    const all = [...this.bindings.values()].flat();
    return 'exchange' in name ? all.filter((b) => b.exchange === name.exchange) : all.filter((b) => b.queue === name.queue);
  }

  /** Drops every binding to a deleted queue. */
  forgetQueue(queue: QueueName): void {
    for (const [ex, list] of this.bindings) this.bindings.set(ex, list.filter((b) => b.queue !== queue));
  }

  /** The queues a message published to `exchange` with `key` goes to, each once. */
  route(exchange: ExchangeName, key: string): QueueName[] {
    const type = this.types.get(exchange);
    const out = new Set<QueueName>();
    for (const b of this.bindings.get(exchange) ?? []) {
      if (type === 'fanout' || (type === 'direct' && b.pattern === key) || (type === 'topic' && topicMatches(b.pattern, key))) out.add(b.queue);
    }
    return [...out];
  }

  snapshot(): { exchanges: { name: string; type: ExchangeType }[]; bindings: Binding[] } {
    return {
      exchanges: [...this.types].map(([name, type]) => ({ name, type })),
      bindings: [...this.bindings.values()].flat(),
    };
  }
}
