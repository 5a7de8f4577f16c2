// The Redis inbox, for idempotent effects. Weaker than PostgreSQL: Redis cannot commit an effect that
// lives elsewhere together with the id, so one of the two comes first, and a crash between them
// either loses the effect or repeats it.
//
// The order is chosen to repeat, never lose: the id is recorded ('done') only after the effect
// returned. Recording first (SET NX before the effect) would make a crash between the record and the
// effect lose the effect for good, and no idempotency can repair that; recording after makes the same
// crash repeat the effect on redelivery, which an idempotent effect makes harmless. Before the effect,
// a delivery only claims the key with its delivery count, atomically (a script): that is the fence.
// An older delivery that comes later is refused, and a claim left by a crash is taken over by the
// redelivery, which is counted higher.
//
// So the effect runs twice only if: the process dies (or Redis fails) between the effect and the
// record; a stale delivery was already inside its effect when a newer one claimed the message; or the
// record expired (ttlMs) before a redelivery came. What a Redis crash keeps is up to its persistence
// (appendfsync); a lost record again means a repeat, not a loss.
import { inboxKey, type DeliveryKey, type InboxOutcome, type InboxStore } from './inbox-store.ts';

/** What the store needs of a Redis client: ioredis's `Redis` and `Cluster` fit. */
export interface RedisScripting {
  eval(script: string, numkeys: number, ...args: (string | number)[]): Promise<unknown>;
}

export interface RedisStoreOptions {
  /** Key prefix of the inbox; default 'warren:inbox:'. */
  readonly prefix?: string;
  /** How long a claim and a record live: longer than a message can wait for its redelivery. */
  readonly ttlMs: number;
}

const DONE = 'done';
const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v == '${DONE}' then return 'duplicate' end
if v and tonumber(v) > tonumber(ARGV[1]) then return 'fenced' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 'claimed'`;
const RECORD = `return redis.call('SET', KEYS[1], '${DONE}', 'PX', ARGV[1])`;

export class RedisInbox implements InboxStore<void> {
  private readonly prefix: string;
  private readonly ttlMs: number;

  constructor(private readonly redis: RedisScripting, options: RedisStoreOptions) {
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs <= 0) throw new Error(`ttlMs must be a positive integer, not ${options.ttlMs}`);
    this.prefix = options.prefix ?? 'warren:inbox:';
    this.ttlMs = options.ttlMs;
  }

  async run(key: DeliveryKey, effect: () => Promise<void>): Promise<InboxOutcome> {
    const k = this.prefix + inboxKey(key);
    const claim = await this.redis.eval(CLAIM, 1, k, key.deliveryCount, this.ttlMs);
    if (claim === 'duplicate' || claim === 'fenced') return claim;
    if (claim !== 'claimed') throw new Error(`redis inbox: unexpected claim reply ${JSON.stringify(claim)}`);
    await effect();
    await this.redis.eval(RECORD, 1, k, this.ttlMs);
    return 'applied';
  }
}

export const redisStore = (redis: RedisScripting, options: RedisStoreOptions): RedisInbox => new RedisInbox(redis, options);
