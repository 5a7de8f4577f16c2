// Small file-system steps that crash safety rests on.
import { open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsync of a folder: makes the creation, renaming or deletion of its entries durable. */
export async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What one step of discard() frees: small enough that its journal commit does not hold up others' writes. */
const DISCARD_STEP_BYTES = 4 * 1024 * 1024;

/**
 * Deletes a file durably without stalling the disk: it is renamed to `trash` first (gone for good, as
 * far as a recovery is concerned), then shrunk a step at a time, each step synced, and unlinked. Freeing
 * a 64 MiB file in one go (with the 'discard' mount option) held every fdatasync on the disk for
 * 10–40 ms, on a mirrored queue on all its replicas at once. A crash on the way leaves the trash file
 * for the next recovery to remove.
 */
export async function discard(path: string, trash: string): Promise<void> {
  await rename(path, trash);
  await syncDir(dirname(path));
  const handle = await open(trash, 'r+');
  try {
    for (let size = (await handle.stat()).size; size > 0;) {
      size = Math.max(0, size - DISCARD_STEP_BYTES);
      await handle.truncate(size);
      await handle.datasync();
    }
  } finally {
    await handle.close();
  }
  await unlink(trash);
}

/** Removes a folder and all it holds (or a file in its place), durably. */
export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
  await syncDir(dirname(path));
}

/** A positional write may write less than asked; this one does not return before all is written. */
export async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Fills `into` from `position`, stopping early only at the end of the file; returns the bytes read. */
export async function readAll(handle: FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Replaces a file so that a crash leaves the old content or the new, never a mix: temp, fsync, rename, fsync folder. */
export async function replaceFile(path: string, data: string): Promise<void> {
  const temp = `${path}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDir(dirname(path));
}
