// Helpers for tests that drive a node through the public API.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { access, mkdtemp, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import parsePrometheus, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { Warren } from '../index.ts';
import { NatsServer } from '../transport/nats-server.ts';

export async function memoryNode(): Promise<Warren> {
  return Warren.start({ dataDir: ':memory:' });
}

/** Polls until `cond` holds (it may ask asynchronously); fails after `limitMs` with `what` (a bound, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Whether a file or folder is there. */
export const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

export interface TestCluster {
  /** The cluster's name (its subject prefix). */
  readonly name: string;
  readonly server: NatsServer;
  /** Node `id` keeps its data in `<dir>/<id>`. */
  readonly dir: string;
  start(id: string, role?: 'server' | 'client'): Promise<Warren>;
}

/**
 * For the tests of one describe block: a nats-server of their own (never the shared one) and a data
 * folder, both set up before the block and gone after it; `start` runs a node of the cluster on them.
 */
export function testCluster(prefix: string): TestCluster {
  let server: NatsServer | undefined;
  let dir = '';
  before(async () => { server = await NatsServer.start(); dir = await mkdtemp(path.join(tmpdir(), `warren-${prefix}-`)); });
  after(async () => { await server?.stop(); await rm(dir, { recursive: true, force: true }); });
  const name = `${prefix}${process.pid}`;
  const running = () => {
    if (!server) throw new Error('testCluster: the nats-server starts in the before hook');
    return server;
  };
  return {
    name,
    get server() { return running(); },
    get dir() { return dir; },
    start: (id, role = 'server') => Warren.start({ nats: running().url, cluster: name, nodeId: id, dataDir: path.join(dir, id), role }),
  };
}

export const texts = (n: number, prefix = 'm') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** Overwrites bytes of the record whose body holds `marker`, in a queue's folder, as bit rot would. */
export async function damageRecord(queueDir: string, marker: string): Promise<void> {
  for (const file of await readdir(queueDir)) {
    const at = (await readFile(path.join(queueDir, file))).indexOf(marker);
    if (at < 0) continue;
    const handle = await open(path.join(queueDir, file), 'r+');
    await handle.write(Buffer.alloc(64, 0xff), 0, 64, at + 1000);
    await handle.close();
    return;
  }
  throw new Error(`no record holds '${marker}'`);
}

/**
 * The value of one sample in Prometheus text (parsed by a library, which throws on text that is not
 * Prometheus's), found by its family's name and type and the labels it must have; undefined if absent.
 */
export function promSample(text: string, name: string, type: PrometheusFamily['type'], labels: Readonly<Record<string, string>>): number | undefined {
  const family = parsePrometheus(text).find((f) => f.name === name);
  if (family === undefined) return undefined;
  assert.equal(family.type, type, `${name} is a ${family.type}`);
  const sample = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return sample === undefined ? undefined : Number(sample.value);
}

/**
 * A disk that fails a queue: the record holding `marker` damaged (a crash when it is read back), and
 * the folder replaced by a file (a restart cannot open the log again; the log stays readable through
 * its open files). Resolves with the mend: the folder back, the damaged record left for recovery.
 */
export async function breakQueueFolder(queueDir: string, marker: string): Promise<() => Promise<void>> {
  await damageRecord(queueDir, marker);
  await rename(queueDir, `${queueDir}.away`);
  await writeFile(queueDir, 'not a folder');
  return async () => {
    await rm(queueDir);
    await rename(`${queueDir}.away`, queueDir);
  };
}
