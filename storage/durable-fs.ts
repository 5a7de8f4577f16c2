// Small file-system steps that crash safety rests on.
import { open, rename, type FileHandle } from 'node:fs/promises';
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
