// The monitoring port of `warren node --http`: GET /metrics (Prometheus text), /healthz and /stats (JSON).
// Monitoring only, as NATS's 8222 and RabbitMQ's 15692 are: no auth, so it binds to loopback by default.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { metricsRegistry, type Warren } from '../index.ts';

type Answer = readonly [status: number, contentType: string, body: string];

export class HttpMonitor {
  private readonly server: Server;
  private stopping = false;
  /** Where it listens, kept: the server forgets once closed. */
  private bound: AddressInfo | undefined;

  private constructor(node: Warren) {
    const registry = metricsRegistry(node);
    const routes: Readonly<Record<string, () => Promise<Answer>>> = {
      '/metrics': async () => [200, registry.contentType, await registry.metrics()],
      '/healthz': async () => (this.stopping
        ? json(503, { ok: false, nodeId: node.nodeId, stopping: true })
        : json(200, { ok: true, nodeId: node.nodeId, queues: node.stats().queues.length })),
      '/stats': async () => json(200, node.stats()),
    };
    this.server = createServer((req, res) => {
      // The path alone, without parsing it as a URL: a request line such as '//' is no URL and must not
      // throw. A target in absolute form (http://host/path), which HTTP/1.1 servers must take, gives its path.
      const path = (req.url ?? '/').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '').split('?', 1)[0]!;
      const route = req.method === 'GET' && Object.hasOwn(routes, path) ? routes[path] : undefined;
      const answer = route ? route() : Promise.resolve(json(404, { error: 'not found' }));
      void answer.catch((e: unknown) => json(500, { error: e instanceof Error ? e.message : String(e) })).then(([status, type, body]) => {
        res.writeHead(status, { 'content-type': type }).end(body);
      });
    });
  }

  /** Listens on `host`:`port` (0: a free port, which `url` names); rejects if it cannot. */
  static async start(node: Warren, port: number, host: string): Promise<HttpMonitor> {
    const monitor = new HttpMonitor(node);
    const { server } = monitor;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    monitor.bound = server.address() as AddressInfo;
    return monitor;
  }

  get url(): string {
    const { family, address, port } = this.bound!;
    return `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`;
  }

  /** The node is stopping: /healthz answers 503 from now on, so a probe or load balancer lets go of it. */
  draining(): void {
    this.stopping = true;
  }

  /** Stops listening and ends open connections (a scrape in flight as the node exits is cut off). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function json(status: number, value: unknown): Answer {
  return [status, 'application/json', JSON.stringify(value)];
}
