// A node on a NATS server in operator mode (decentralized JWT auth, as nsc and Synadia Cloud set it
// up): the test signs an operator, a system account, an account with JetStream and its users with
// nkeys, and gives the node a user's credentials file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from 'nats';
import { InvalidArgument, Warren } from '../index.ts';
import { NatsServer } from '../transport/nats-server.ts';

type KeyPair = ReturnType<typeof nkeys.createOperator>;

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** A NATS JWT (version 2 claims): `nats` says what the subject is, signed by its issuer's key. */
function jwt(issuer: KeyPair, subject: string, nats: Record<string, unknown>): string {
  const claims = { jti: randomUUID(), iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name: subject.slice(0, 8), sub: subject, nats: { ...nats, version: 2 } };
  const signed = `${base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${base64url(JSON.stringify(claims))}`;
  return `${signed}.${base64url(issuer.sign(Buffer.from(signed)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const JETSTREAM = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };

/** An operator, its system account, and an account with JetStream whose users sign in with creds files. */
function operatorSetup() {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const accountJwt = (key: KeyPair, limits: object) => jwt(operator, key.getPublicKey(), { type: 'account', limits: { ...UNLIMITED, ...limits }, default_permissions: { pub: {}, sub: {} } });
  return {
    server: {
      jwt: jwt(operator, operator.getPublicKey(), { type: 'operator', system_account: system.getPublicKey() }),
      systemAccount: system.getPublicKey(),
      accounts: { [system.getPublicKey()]: accountJwt(system, {}), [account.getPublicKey()]: accountJwt(account, JETSTREAM) },
    },
    /** A user's credentials file, as nsc writes it; signed by `signer` (the account, unless the test says otherwise). */
    creds(signer: KeyPair = account): string {
      const user = nkeys.createUser();
      const userJwt = jwt(signer, user.getPublicKey(), { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
      return `-----BEGIN NATS USER JWT-----\n${userJwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${Buffer.from(user.getSeed()).toString()}\n------END USER NKEY SEED------\n`;
    },
  };
}

describe('a node on a NATS server in operator mode', () => {
  let dir: string;
  let server: NatsServer;
  const setup = operatorSetup();
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warren-creds-'));
    server = await NatsServer.start({ operator: setup.server });
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const credsFile = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await writeFile(file, text, { mode: 0o600 });
    return file;
  };
  const start = (credsFile?: string) => Warren.start({ nats: { servers: server.url, ...(credsFile ? { credsFile } : {}) }, cluster: 'creds', dataDir: ':memory:' });

  it("signs in with a user's credentials file, and works (JetStream catalog included)", async () => {
    const node = await start(await credsFile('user.creds', setup.creds()));
    try {
      await node.declareQueue('q');
      await node.publish({ queue: 'q' }, 'signed in');
      assert.equal(node.stats().queues[0]!.ready, 1);
    } finally {
      await node.stop();
    }
  });

  it('is refused at once without credentials, with a user of an account the server does not know, without the file, or with one that does not parse', async () => {
    const refused = (e: unknown) => e instanceof InvalidArgument && /cannot connect to NATS/.test(e.message);
    await assert.rejects(start(), refused);
    await assert.rejects(start(await credsFile('stranger.creds', setup.creds(nkeys.createAccount()))), refused);
    await assert.rejects(start(path.join(dir, 'missing.creds')), (e: unknown) => refused(e) && /ENOENT/.test((e as Error).message));
    await assert.rejects(start(await credsFile('pasted-wrong.creds', setup.creds().replace(/(BEGIN USER NKEY SEED-----\n)SU[A-Z0-9]+/, '$1SUNOTASEED'))), (e: unknown) => refused(e) && /not valid/.test((e as Error).message));
    await assert.rejects(start(await credsFile('not-creds.txt', 'hello')), (e: unknown) => refused(e) && /not valid/.test((e as Error).message));
  });
});
