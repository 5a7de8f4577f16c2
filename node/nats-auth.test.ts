// A node on a NATS server that lets in only those with credentials: a user and password, or a token.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgument, Warren } from '../index.ts';
import { NatsServer } from '../transport/nats-server.ts';

describe('a node on a NATS server that asks for credentials', () => {
  for (const auth of [{ user: 'warren', pass: 's3cret' }, { token: 't0ken' }]) {
    const kind = 'token' in auth ? 'a token' : 'a user and password';
    it(`connects with ${kind}, and refuses to start without them or with wrong ones`, async () => {
      const server = await NatsServer.start({ auth });
      const start = (nats: Parameters<typeof Warren.start>[0] & object) => Warren.start({ ...nats, cluster: 'auth', dataDir: ':memory:' });
      try {
        const node = await start({ nats: { servers: server.url, ...auth } });
        await node.declareQueue('q');
        await node.publish({ queue: 'q' }, 'hello');
        assert.equal(node.stats().queues[0]!.ready, 1);
        await node.stop();
        const wrong = 'token' in auth ? { token: 'nope' } : { user: 'warren', pass: 'nope' };
        for (const nats of [server.url, { servers: server.url, ...wrong }]) {
          await assert.rejects(start({ nats }), (e: unknown) => e instanceof InvalidArgument && /cannot connect to NATS .*Authorization Violation/.test(e.message));
        }
      } finally {
        await server.stop();
      }
    });
  }
});
