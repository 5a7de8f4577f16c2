// The NATS implementation of the Transport interface, over the `nats` client. It reconnects forever
// (a restarted server is the normal case, not an error) and reports its connection status, so that the
// node can resend what was in flight and consumers can reconcile after a reconnect.
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, ErrorCode, type Authenticator, type NatsConnection, type NatsError, type Subscription as NatsSub } from 'nats';
import { verifyingServer } from './nats-info.ts';
import { NoResponders, TransportTimeout, type MessageHandler, type Subscription, type Transport } from './transport.ts';

/** How often a node that starts before its NATS server tries again. */
const FIRST_CONNECT_RETRY_MS = 250;

/** What the server or the TLS handshake said against this node: trying again changes nothing. */
function refusal(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  return code === ErrorCode.AuthorizationViolation || code === ErrorCode.AuthenticationExpired || code === ErrorCode.BadCreds
    || /^(ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code);
}

/**
 * A credentials file, read and tried once here: one that cannot be read or does not parse fails the
 * start, as a refused certificate does (nats.js would only find out at each connect, and try again).
 */
async function credentials(file: string): Promise<Authenticator> {
  const authenticator = credsAuthenticator(await readFile(file));
  try {
    authenticator('nonce');
  } catch (err) {
    throw new Error(`the credentials file ${file} is not valid: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return authenticator;
}

/** nats-server's default, until the server has said its own. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export type TransportStatus = 'disconnected' | 'reconnected';

export interface NatsTransportOptions {
  readonly servers: string | string[];
  readonly name?: string;
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  /** A NATS credentials file (a user JWT and its nkey seed), for a server in operator mode. */
  readonly credsFile?: string;
  /** PEM files: the CA to trust, and a client certificate with its key. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  private readonly statusListeners = new Set<(s: TransportStatus) => void>();
  private readonly handlerErrorListeners = new Set<(e: unknown) => void>();

  private constructor(readonly connection: NatsConnection) {
    void this.watchStatus();
  }

  static async connect(opts: NatsTransportOptions): Promise<NatsTransport> {
    const { servers, name, user, pass, token, credsFile, tls } = opts;
    const options = {
      servers,
      ...(name ? { name } : {}),
      ...(user === undefined ? {} : { user, pass: pass ?? '' }),
      ...(token === undefined ? {} : { token }),
      ...(credsFile === undefined ? {} : { authenticator: await credentials(credsFile) }),
      ...(tls === undefined ? {} : { tls }),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 2_000,
      maxPingOut: 3,
      // No stack captured for every request (frames go as requests): Warren's own errors say what timed out.
      noAsyncTraces: true,
    };
    // A server that is not up yet is waited for, as long as it takes; one that refuses this node (its
    // credentials, or a certificate that does not verify) refuses it again: that is final.
    for (;;) {
      // A server that verifies client certificates refuses a node without one only after the TLS 1.3
      // handshake, which the client reports as a timeout, like a server that is down: its INFO says it first.
      const verifying = tls?.certFile === undefined ? await verifyingServer(servers) : undefined;
      if (verifying !== undefined) throw new Error(`the NATS server ${verifying} verifies client certificates: give the node one (tls: { certFile, keyFile })`);
      try {
        return new NatsTransport(await connect(options));
      } catch (err) {
        if (refusal(err)) throw err;
        await new Promise((r) => setTimeout(r, FIRST_CONNECT_RETRY_MS));
      }
    }
  }


  /** The largest message the server takes (its max_payload). */
  get maxPayload(): number {
    return this.connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    if (this.connection.isClosed()) return;
    this.connection.publish(subject, data, reply === undefined ? undefined : { reply });
  }

  subscribe(subject: string, handler: MessageHandler, opts: { queue?: string } = {}): Subscription {
    const sub: NatsSub = this.connection.subscribe(subject, {
      ...(opts.queue ? { queue: opts.queue } : {}),
      callback: (err, msg) => {
        if (err) return;
        // A throw would reach nats.js and end the connection: one bad message must not cut off the node.
        try {
          handler(msg.reply ? { subject: msg.subject, data: msg.data, reply: msg.reply } : { subject: msg.subject, data: msg.data });
        } catch (e) {
          for (const l of this.handlerErrorListeners) l(e);
        }
      },
    });
    return { unsubscribe: () => sub.unsubscribe() };
  }

  async request(subject: string, data: Uint8Array, { timeoutMs }: { timeoutMs: number }): Promise<Uint8Array> {
    try {
      return (await this.connection.request(subject, data, { timeout: timeoutMs, noMux: false })).data;
    } catch (err) {
      const code = (err as NatsError).code;
      if (code === ErrorCode.NoResponders) throw new NoResponders(subject);
      if (code === ErrorCode.Timeout) throw new TransportTimeout(subject, timeoutMs);
      throw err;
    }
  }

  async flush(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.flush();
  }

  async close(): Promise<void> {
    if (!this.connection.isClosed()) await this.connection.drain().catch(() => this.connection.close());
  }

  /** A subscription's handler threw (it is caught here, and the connection goes on). */
  onHandlerError(listener: (e: unknown) => void): () => void {
    this.handlerErrorListeners.add(listener);
    return () => void this.handlerErrorListeners.delete(listener);
  }

  onStatus(listener: (s: TransportStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => void this.statusListeners.delete(listener);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.connection.status()) {
      const status: TransportStatus | undefined = s.type === 'disconnect' ? 'disconnected' : s.type === 'reconnect' ? 'reconnected' : undefined;
      if (status) for (const l of this.statusListeners) l(status);
    }
  }
}
