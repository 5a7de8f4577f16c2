// The public API of Warren (see API.md). Everything users import comes from here.
export { Warren } from './node/warren.ts';
export { MAX_BODY_BYTES } from './node/limits.ts';
export type { Target, Receipt, ConsumeOptions, NodeCounters } from './node/warren.ts';
export { Consumer } from './node/consumer.ts';
export type { ConsumerClosed } from './node/consumer.ts';
export { Message, AlreadySettled } from './node/message.ts';
export type { Body, JsonValue } from './node/body.ts';
export type { StartOptions, QueueOptions, ExchangeOptions, PublishOptions, DeleteQueueOptions, DeleteExchangeOptions } from './node/options.ts';
export type { Stats, QueueStats, NodeInfo, MirrorInfo } from './node/stats.ts';
export type { Rates } from './node/rates.ts';
export { metricsRegistry } from './node/metrics.ts';
export type { StatsSource } from './node/metrics.ts';
export type { Directive } from './supervision/strategy.ts';
export {
  WarrenError, QueueNotFound, ExchangeNotFound, InvalidName, InvalidArgument, PreconditionFailed,
  Overflow, NotConfirmed, MailboxFull, Stopped, StorageError, DiskFailure,
} from './node/errors.ts';
export type { ErrorCode } from './node/errors.ts';
export { exactlyOnce } from './effects/exactly-once.ts';
export type { EffectHandler } from './effects/exactly-once.ts';
export type { InboxStore, InboxOutcome, DeliveryKey } from './effects/inbox-store.ts';
export { MemoryInbox } from './effects/memory-inbox.ts';
export { PostgresInbox } from './effects/postgres-inbox.ts';
export { FileInbox, fileStore } from './effects/file-inbox.ts';
export { RedisInbox, redisStore } from './effects/redis-inbox.ts';
export type { RedisScripting, RedisStoreOptions } from './effects/redis-inbox.ts';
