// Where the peer brokers listen: loopback by default, overridable for another machine's setup.

export const peers = {
  amqpUrl: process.env.BENCH_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
  natsUrl: process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222',
  redisHost: process.env.BENCH_REDIS_HOST ?? '127.0.0.1',
  redisPort: Number(process.env.BENCH_REDIS_PORT ?? 6379),
} as const;

/** A peer that does not answer within this is reported unreachable rather than waited for. */
export const CONNECT_TIMEOUT_MS = 3000;
