// Picks the storage for a data dir: ':memory:' keeps nothing on disk; any other path is a durable log.
import { FileStorage } from './file-storage.ts';
import { MemoryStorage } from './memory-store.ts';
import type { FsyncPolicy, Storage } from './storage.ts';

export async function openStorage(dataDir: string, fsync: FsyncPolicy, onError?: (err: Error) => void): Promise<Storage> {
  if (dataDir === ':memory:') return new MemoryStorage();
  return FileStorage.open(dataDir, { fsync, ...(onError ? { onError } : {}) });
}
