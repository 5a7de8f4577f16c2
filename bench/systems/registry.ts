// The systems of the benchmark, in report order. Each module is loaded on demand, so a system whose
// code does not load (e.g. the Warren core mid-change) becomes an "unavailable" row, not a crash.
import type { System } from '../types.ts';

export type SystemId =
  | 'warren-embedded' | 'warren-nats' | 'warren-mirrored'
  | 'rabbitmq-classic' | 'rabbitmq-quorum' | 'jetstream' | 'bullmq';

export interface Entry {
  readonly id: SystemId;
  readonly name: string;
  /** Absent for systems that do not exist yet; `notBuilt` then says why. */
  readonly load?: () => Promise<System>;
  readonly notBuilt?: string;
}

export const BASELINE: SystemId = 'rabbitmq-classic';

export const entries: readonly Entry[] = [
  { id: 'warren-embedded', name: 'Warren embedded', load: async () => (await import('./warren-embedded.ts')).warrenEmbedded },
  { id: 'warren-nats', name: 'Warren over NATS (leader process + producer and consumer nodes)', load: async () => (await import('./warren-nats.ts')).warrenNats },
  { id: 'warren-mirrored', name: 'Warren mirrored (3 replicas, minInSync 2)', load: async () => (await import('./warren-nats.ts')).warrenMirrored },
  { id: 'rabbitmq-classic', name: 'RabbitMQ classic durable queue', load: async () => (await import('./rabbitmq.ts')).rabbitmq('classic') },
  { id: 'rabbitmq-quorum', name: 'RabbitMQ quorum queue', load: async () => (await import('./rabbitmq.ts')).rabbitmq('quorum') },
  { id: 'jetstream', name: 'NATS JetStream (file storage)', load: async () => (await import('./jetstream.ts')).jetstream },
  { id: 'bullmq', name: 'BullMQ (Redis)', load: async () => (await import('./bullmq.ts')).bullmq },
];

export function entry(id: string): Entry {
  const e = entries.find((x) => x.id === id);
  if (!e) throw new Error(`unknown system '${id}'; known: ${entries.map((x) => x.id).join(', ')}`);
  return e;
}
