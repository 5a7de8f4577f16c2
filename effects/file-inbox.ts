// The file inbox: an embedded, append-only file of recorded message ids, one JSON string a line, for
// a single process (two processes sharing the file would not see each other's ids). The effect runs,
// then its id is appended and fdatasync'd, and only then is the message acked.
//
// The window: a crash after the effect and before the record is on disk repeats the effect on
// redelivery, so effects should be idempotent. A crash anywhere else costs nothing: before the effect,
// the redelivery applies it; after the record, the redelivery is a duplicate. A crash that tears the
// last line is repaired when the file is opened (the torn tail is cut off: that id was never recorded).
// Every recorded id stays in the file and in memory: one file per consumer group, rotated by its owner.
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StorageError } from '../node/errors.ts';
import { syncDir } from '../storage/durable-fs.ts';
import { inboxKey, type DeliveryKey, type InboxOutcome, type InboxStore } from './inbox-store.ts';
import { LocalInbox } from './local-inbox.ts';

interface Opened {
  readonly handle: FileHandle;
  readonly local: LocalInbox;
}

const NEWLINE = 0x0a;

export class FileInbox implements InboxStore<void> {
  private opened: Promise<Opened> | undefined;
  /** Appends one at a time: a write and its fdatasync finish before the next write starts. */
  private appending: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  async run(key: DeliveryKey, effect: () => Promise<void>): Promise<InboxOutcome> {
    const { handle, local } = await this.open();
    return local.run(key, async () => {
      await effect();
      await this.append(handle, `${JSON.stringify(inboxKey(key))}\n`);
    });
  }

  async close(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    await this.appending.catch(() => {});
    await (await opened?.catch(() => undefined))?.handle.close();
  }

  private open(): Promise<Opened> {
    this.opened ??= load(this.path).catch((err: unknown) => {
      this.opened = undefined;
      throw err;
    });
    return this.opened;
  }

  private append(handle: FileHandle, line: string): Promise<void> {
    const done = this.appending.catch(() => {}).then(async () => {
      await handle.appendFile(line);
      await handle.datasync();
    });
    this.appending = done;
    return done;
  }
}

async function load(path: string): Promise<Opened> {
  const handle = await open(path, 'a+');
  try {
    const bytes = await handle.readFile();
    // A new file's name must survive a crash as well as its lines.
    if (bytes.length === 0) await syncDir(dirname(path));
    const end = bytes.lastIndexOf(NEWLINE) + 1;
    if (end < bytes.length) {
      await handle.truncate(end);
      await handle.datasync();
    }
    const recorded = new Set<string>();
    for (const line of bytes.subarray(0, end).toString('utf8').split('\n').slice(0, -1)) recorded.add(parseLine(path, line));
    return { handle, local: new LocalInbox(recorded) };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

function parseLine(path: string, line: string): string {
  let key: unknown;
  try {
    key = JSON.parse(line);
  } catch {
    key = undefined;
  }
  if (typeof key !== 'string') throw new StorageError(`inbox file '${path}': damaged line ${JSON.stringify(line)}`);
  return key;
}

export const fileStore = (path: string): FileInbox => new FileInbox(path);
