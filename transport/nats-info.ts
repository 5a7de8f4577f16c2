// The INFO line a NATS server sends first, in plain text, to every connection: what it asks of its
// clients, read before the client library's handshake, which reports some refusals only as timeouts.
import { connect as tcpConnect } from 'node:net';
import { z } from 'zod';

const infoSchema = z.object({ tls_verify: z.boolean().optional() });
type ServerInfo = z.infer<typeof infoSchema>;

const INFO_TIMEOUT_MS = 2_000;
const INFO_MAX_BYTES = 64 * 1024;

/** The server's INFO, or undefined when it does not answer with one (down, or TLS first). */
export function serverInfo(server: string): Promise<ServerInfo | undefined> {
  let url: URL;
  try {
    url = new URL(server.includes('://') ? server : `nats://${server}`);
  } catch {
    return Promise.resolve(undefined); // the client library says what it makes of it
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise((resolve) => {
    const socket = tcpConnect(Number(url.port || 4222), host);
    let text = '';
    const done = (info: ServerInfo | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => done(undefined), INFO_TIMEOUT_MS);
    socket.setEncoding('utf8');
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\r\n');
      if (end < 0) return text.length > INFO_MAX_BYTES ? done(undefined) : undefined;
      if (!text.startsWith('INFO ')) return done(undefined);
      try {
        const parsed = infoSchema.safeParse(JSON.parse(text.slice(5, end)));
        done(parsed.success ? parsed.data : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}

/** The first of `servers` that verifies client certificates, if any does. */
export async function verifyingServer(servers: string | readonly string[]): Promise<string | undefined> {
  for (const server of typeof servers === 'string' ? [servers] : servers) {
    if ((await serverInfo(server))?.tls_verify) return server;
  }
  return undefined;
}
