// Durable storage in a data folder:
//
//   <dir>/topology.json                 the declarations, replaced atomically
//   <dir>/node-id                       the id of the node whose data this is
//   <dir>/queues/<queue folder>/*.seg   each queue's segmented log (file-log.ts)
//   <dir>/trash/                        what is deleted, while it is freed (trash.ts)
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { NODE_ID, type QueueName } from '../node/ids.ts';
import { InvalidArgument, InvalidName, StorageError } from '../node/errors.ts';
import { replaceFile, syncDir } from './durable-fs.ts';
import { lockDir, type DirLock } from './dir-lock.ts';
import { FileQueueLog } from './file-log.ts';
import type { FsyncPolicy, QueueLog, Storage, TopologySnapshot } from './storage.ts';
import { Trash } from './trash.ts';

export interface FileStorageOptions {
  readonly fsync: FsyncPolicy;
  /** A segment is sealed and a new one started once it would grow past this. Default 64 MiB. */
  readonly segmentBytes?: number;
  /** What goes wrong in the background (freeing deleted files): the data is safe, the space is not yet free. */
  readonly onError?: (err: Error) => void;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** The log's index keeps record offsets in 32 bits. */
const MAX_SEGMENT_BYTES = 1024 * 1024 * 1024;
/** File names may have 255 bytes; longer queue folders are cut and end in a hash. */
const MAX_FOLDER = 200;

const topologySchema = z.object({
  queues: z.array(z.object({ name: z.string(), options: z.record(z.string(), z.unknown()) })),
  exchanges: z.array(z.object({ name: z.string(), type: z.string() })),
  bindings: z.array(z.object({ exchange: z.string(), queue: z.string(), pattern: z.string() })),
});

export class FileStorage implements Storage {
  private readonly logs = new Map<string, FileQueueLog>();
  /** Queues whose folder destroyQueue is moving to the trash: a log opened meanwhile would lose its files to the move. */
  private readonly destroying = new Set<string>();
  /** Topology writes, one at a time, in call order. */
  private topologyWrites: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly fsync: FsyncPolicy,
    private readonly segmentBytes: number,
    private readonly lock: DirLock,
    private readonly trash: Trash,
    private readonly report: (err: Error) => void,
  ) {}

  static async open(dir: string, opts: FileStorageOptions): Promise<FileStorage> {
    const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (!Number.isInteger(segmentBytes) || segmentBytes < 1 || segmentBytes > MAX_SEGMENT_BYTES) {
      throw new InvalidArgument(`segmentBytes must be an integer from 1 to ${MAX_SEGMENT_BYTES}, not ${segmentBytes}`);
    }
    if (opts.fsync !== 'always' && opts.fsync !== 'batch') throw new InvalidArgument(`unknown fsync policy '${String(opts.fsync)}'`);
    if ((await mkdir(join(dir, 'queues'), { recursive: true })) !== undefined) {
      await syncDir(dir);
      await syncDir(dirname(dir));
    }
    const lock = await lockDir(dir);
    const report = opts.onError ?? ((err: Error) => console.warn(`warren storage: ${err.message}`));
    let trash: Trash;
    try {
      trash = await Trash.open(join(dir, 'trash'), report);
    } catch (err) {
      await lock.release();
      throw new StorageError(`cannot make the trash folder of ${dir}`, { cause: err });
    }
    return new FileStorage(dir, opts.fsync, segmentBytes, lock, trash, report);
  }

  async openQueue(name: QueueName): Promise<QueueLog> {
    if (this.closed) throw new StorageError('storage is closed');
    if (this.logs.has(name)) throw new StorageError(`queue '${name}' is already open`);
    if (this.destroying.has(name)) throw new StorageError(`queue '${name}' is being destroyed`);
    const dir = this.folderOf(name);
    const log = new FileQueueLog(name, dir, { fsync: this.fsync, segmentBytes: this.segmentBytes, trash: this.trash, report: this.report }, () => this.logs.delete(name), () => this.destroyQueue(name));
    this.logs.set(name, log);
    try {
      if ((await mkdir(dir, { recursive: true })) !== undefined) await syncDir(dirname(dir));
    } catch (err) {
      this.logs.delete(name);
      throw new StorageError(`cannot create the folder of queue '${name}'`, { cause: err });
    }
    return log;
  }

  async destroyQueue(name: QueueName): Promise<void> {
    if (this.closed) throw new StorageError('storage is closed');
    if (this.logs.has(name) || this.destroying.has(name)) throw new StorageError(`queue '${name}' is open`);
    this.destroying.add(name);
    try {
      await this.trash.remove(this.folderOf(name));
    } finally {
      this.destroying.delete(name);
    }
  }

  async storedQueues(): Promise<QueueName[]> {
    const entries = await readdir(join(this.dir, 'queues'), { withFileTypes: true });
    return entries.flatMap((e) => {
      const name = e.isDirectory() ? queueOfFolder(e.name) : undefined;
      return name === undefined ? [] : [name as QueueName];
    });
  }

  private folderOf(name: QueueName): string {
    return join(this.dir, 'queues', queueFolder(name));
  }

  async loadTopology(): Promise<TopologySnapshot | undefined> {
    const text = await readIfThere(this.topologyPath, 'the topology');
    if (text === undefined) return undefined;
    try {
      return topologySchema.parse(JSON.parse(text));
    } catch (err) {
      throw new StorageError(`the topology file ${this.topologyPath} is not valid`, { cause: err });
    }
  }

  async nodeId(given: string | undefined, fresh: () => string): Promise<string> {
    const file = join(this.dir, 'node-id');
    const kept = await readIfThere(file, file);
    if (given === undefined && kept !== undefined && !NODE_ID.test(kept)) throw new StorageError(`${file} does not hold a node id: ${JSON.stringify(kept.slice(0, 80))}`);
    const id = given ?? kept ?? fresh();
    if (id !== kept) await replaceFile(file, id);
    return id;
  }

  saveTopology(topology: TopologySnapshot): Promise<void> {
    const write = this.topologyWrites.then(() => replaceFile(this.topologyPath, JSON.stringify(topology)));
    this.topologyWrites = write.catch(() => undefined); // the caller sees the failure; the next write still runs
    return write;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    await this.topologyWrites;
    // Freed before the lock goes: another open of this folder would free the same files meanwhile.
    await this.trash.drained();
    await this.lock.release();
  }

  private get topologyPath(): string {
    return join(this.dir, 'topology.json');
  }
}

/**
 * A queue's folder name. Bytes of [a-z0-9_-], and '.' after the first, stay as they are; every other
 * byte becomes %XX (upper-case hex). So no name escapes its folder or hides ('.', '..', '.x'), and names
 * that differ only in case stay apart on case-insensitive file systems. A name too long for a file
 * name is cut and ends in '~' and its SHA-256 ('~' is escaped elsewhere, so this cannot collide).
 */
export function queueFolder(name: string): string {
  if (name.length === 0) throw new InvalidName('queue', name, 'it is empty');
  let folder = '';
  for (const [i, byte] of Buffer.from(name, 'utf8').entries()) {
    const safe = isSafeByte(byte) || (byte === 0x2e && i > 0);
    folder += safe ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (folder.length <= MAX_FOLDER) return folder;
  return `${folder.slice(0, 64)}~${createHash('sha256').update(name).digest('hex')}`;
}

/** The queue whose folder this is; undefined for a cut name (its end is a hash) or a folder Warren did not name. */
export function queueOfFolder(folder: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(folder);
  } catch {
    return undefined;
  }
  return name.length > 0 && queueFolder(name) === folder ? name : undefined;
}

function isSafeByte(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d;
}

/** A small file's text; undefined where there is none. */
async function readIfThere(file: string, what: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot read ${what}`, { cause: err });
  }
}
