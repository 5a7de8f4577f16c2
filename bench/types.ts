// The contract between the workload drivers and the systems under test. A system only knows how to
// declare a topology, publish with a confirm, consume with manual acks and clean up; the workloads
// (W1, W2, W3) are written once against this, so every system runs exactly the same loop.

/** One delivered message. `ack` returns a promise where the system confirms acks (Warren, BullMQ). */
export interface Delivery {
  readonly body: Uint8Array;
  ack(): void | Promise<void>;
}

/** `queue`: one durable queue. `fanout`: one publish reaches `queues` durable queues. */
export type Topology = { readonly kind: 'queue' } | { readonly kind: 'fanout'; readonly queues: number };

export interface Session {
  /** Resolves once the system confirmed the message (durable by its own rules, see ServerInfo). */
  publish(body: Uint8Array): Promise<void>;
  /** Starts a consumer on queue `index` of the topology (0 for a plain queue), manual ack. */
  consume(index: number, prefetch: number, onMessage: (delivery: Delivery) => void): Promise<void>;
  /** The process that holds the backlog, for W3's peak RSS; undefined when it cannot be found. */
  serverPid(): number | undefined;
  /** Cancels consumers, deletes everything `open` created, closes connections. */
  close(): Promise<void>;
}

export interface ServerInfo {
  /** e.g. "RabbitMQ 3.12.1". */
  readonly server: string;
  /** What a confirm means on this system, as configured: written in the report next to the numbers. */
  readonly durability: string;
  /** How W2's fan-out is built on this system. */
  readonly fanout: string;
}

export interface System {
  /** Fails (throws) with the reason when the system cannot be reached. */
  probe(): Promise<ServerInfo>;
  /** `name` is unique per run; the system derives all its queue/stream/key names from it. */
  open(name: string, topology: Topology): Promise<Session>;
  /** Deletes what `open(name, topology)` may have created; safe to call when nothing was. */
  remove(name: string, topology: Topology): Promise<void>;
  /**
   * How a run warms the system up before it measures. 'clients' (the default, a long-running broker:
   * only the benchmark's side is cold): an unmeasured run of a few messages on queues of its own.
   * 'engine' (Warren embedded, whose engine starts with the run's process): that run, as long as
   * engineWarmupN. 'session' (Warren over NATS): open() warms up the node processes it starts, through the measured queues, and the
   * benchmark's clients with them.
   */
  readonly warmup?: 'clients' | 'engine' | 'session';
}
