// A node on a NATS server that speaks TLS only, with certificates the test makes with openssl: a CA, the
// server's certificate for 127.0.0.1, and a client certificate for a server that verifies clients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidArgument, Warren } from '../index.ts';
import { NatsServer } from '../transport/nats-server.ts';

const openssl = (...args: string[]) => promisify(execFile)('openssl', args);

/** A CA, and certificates it signed for the server (127.0.0.1) and for a client. */
async function certificates(dir: string) {
  const file = (name: string) => path.join(dir, name);
  await openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=warren-test-ca', '-keyout', file('ca.key'), '-out', file('ca.pem'));
  await writeFile(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  for (const who of ['server', 'client']) {
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=warren-test-${who}`, '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`));
    await openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1',
      ...(who === 'server' ? ['-extfile', file('server.ext')] : []), '-out', file(`${who}.pem`));
  }
  return { ca: file('ca.pem'), server: { certFile: file('server.pem'), keyFile: file('server.key') }, client: { certFile: file('client.pem'), keyFile: file('client.key') } };
}

describe('a node on a NATS server that speaks TLS', () => {
  let dir: string;
  let certs: Awaited<ReturnType<typeof certificates>>;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'warren-tls-'));
    certs = await certificates(dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const start = (nats: NonNullable<Parameters<typeof Warren.start>[0]>['nats']) => Warren.start({ nats, cluster: 'tls', dataDir: ':memory:' });
  const works = async (node: Warren) => {
    await node.declareQueue('q');
    await node.publish({ queue: 'q' }, 'over tls');
    assert.equal(node.stats().queues[0]!.ready, 1);
    await node.stop();
  };

  it('connects trusting the CA of the server, and refuses to start at once without it', async () => {
    const server = await NatsServer.start({ tls: certs.server });
    try {
      await works(await start({ servers: server.url, tls: { caFile: certs.ca } }));
      // A certificate that does not verify is final: no waiting as for a server that is not up yet.
      await assert.rejects(start({ servers: server.url }), (e: unknown) => e instanceof InvalidArgument && /unable to verify/.test(e.message));
    } finally {
      await server.stop();
    }
  });

  it('presents a client certificate to a server that verifies clients, and without one is refused at once', async () => {
    const server = await NatsServer.start({ tls: { ...certs.server, caFile: certs.ca } });
    try {
      await works(await start({ servers: server.url, tls: { caFile: certs.ca, ...certs.client } }));
      // The server's INFO says it verifies clients: no waiting as for a server that is not up yet.
      await assert.rejects(start({ servers: server.url, tls: { caFile: certs.ca } }), (e: unknown) => e instanceof InvalidArgument && /verifies client certificates/.test(e.message));
    } finally {
      await server.stop();
    }
  });
});
