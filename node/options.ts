// What users pass in, validated at the edge with zod: wrong types and ranges become InvalidArgument
// with the field named, and names are checked once here so the rest of the code can trust them.
import { z } from 'zod';
import { InvalidArgument, InvalidName } from './errors.ts';
import { NODE_ID } from './ids.ts';

const NAME = /^[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$/;

export function checkName(kind: 'queue' | 'exchange', name: unknown): string {
  if (typeof name !== 'string') throw new InvalidName(kind, name, 'must be a string');
  if (name.length === 0 || name.length > 200) throw new InvalidName(kind, name, 'must be 1 to 200 characters');
  if (!NAME.test(name) || name.includes('..') || name.endsWith('.')) {
    throw new InvalidName(kind, name, "letters, digits and _ - : . only; '.' only between words");
  }
  return name;
}

const count = z.number().int().positive();
const ms = z.number().int().nonnegative();

export const startSchema = z.strictObject({
  nodeId: z.string().regex(NODE_ID).optional(),
  dataDir: z.string().min(1).optional(),
  nats: z.union([z.string().min(1), z.strictObject({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** Credentials, as the server's `authorization` block asks: a user and password, or a token. */
    user: z.string().min(1).optional(),
    pass: z.string().optional(),
    token: z.string().min(1).optional(),
    /** A NATS credentials file (user JWT and nkey seed), as a server in operator mode asks (nsc, Synadia Cloud). */
    credsFile: z.string().min(1).optional(),
    /** TLS, as the server's `tls` block asks: the CA that signed its certificate; a client certificate where it verifies clients. */
    tls: z.strictObject({ caFile: z.string().min(1).optional(), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional() }).optional(),
  })]).optional(),
  cluster: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional(),
  fsync: z.enum(['always', 'batch']).optional(),
  /** 'client' nodes (the CLI, a producer-only service) hold no queues: declarations go to server nodes. */
  role: z.enum(['server', 'client']).optional(),
});
export type StartOptions = z.input<typeof startSchema>;

export const queueSchema = z.strictObject({
  durable: z.boolean().default(true),
  mirrors: z.number().int().nonnegative().default(0),
  minInSync: count.optional(),
  maxDeliveries: count.default(20),
  deadLetterQueue: z.string().optional(),
  messageTtlMs: count.optional(),
  maxLength: z.number().int().nonnegative().optional(),
  overflow: z.enum(['reject-publish', 'drop-head', 'dead-letter-head']).default('reject-publish'),
  singleActiveConsumer: z.boolean().default(false),
  dedupWindow: z.strictObject({ count: count.optional(), ms: count.optional() }).optional(),
});
export type QueueOptions = z.input<typeof queueSchema>;
export type ResolvedQueueOptions = z.output<typeof queueSchema>;

export const exchangeSchema = z.strictObject({ type: z.enum(['direct', 'fanout', 'topic']) });
export type ExchangeOptions = z.input<typeof exchangeSchema>;

/** queue.delete's conditions: refused (PreconditionFailed) while the queue has consumers, or holds messages. */
export const deleteQueueSchema = z.strictObject({ ifUnused: z.boolean().default(false), ifEmpty: z.boolean().default(false) });
export type DeleteQueueOptions = z.input<typeof deleteQueueSchema>;

/** exchange.delete's condition: refused (PreconditionFailed) while the exchange has bindings. */
export const deleteExchangeSchema = z.strictObject({ ifUnused: z.boolean().default(false) });
export type DeleteExchangeOptions = z.input<typeof deleteExchangeSchema>;

export const publishSchema = z.strictObject({
  id: z.string().min(1).max(256).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  delayMs: ms.optional(),
  priority: z.number().int().min(0).max(255).optional(),
  /** The message's own TTL (RabbitMQ's per-message expiration): the lower of it and the queue's applies. */
  ttlMs: count.optional(),
});
export type PublishOptions = z.input<typeof publishSchema>;

export const retrySchema = z.strictObject({ backoffMs: count.optional(), maxBackoffMs: count.optional() });

/** RabbitMQ's default consumer_timeout: a message unsettled for 30 minutes ends its consumer. */
const ackTimeoutMs = z.number().int().nonnegative().default(1_800_000);

export const consumeSchema = z.strictObject({
  prefetch: count.max(65_535).default(32),
  ackTimeoutMs,
  ack: z.enum(['manual', 'auto']).default('auto'),
  retry: retrySchema.optional(),
  supervision: z.strictObject({
    decide: z.function().optional(),
    maxRestarts: count.optional(),
    withinMs: count.optional(),
  }).optional(),
});
export type ResolvedConsumeOptions = z.output<typeof consumeSchema>;

export const messagesSchema = z.strictObject({
  prefetch: count.max(65_535).default(100),
  ackTimeoutMs,
  signal: z.instanceof(AbortSignal).optional(),
});

/** Parses or throws InvalidArgument naming the offending field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  throw new InvalidArgument(`${what}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
}
