import { closeSync, ftruncateSync, openSync, statSync, writeSync } from "node:fs";

/**
 * A power loss on a copied SQLite store: cuts its WAL at a random point beyond `syncedBytes`
 * (everything past the WAL's size at the last acknowledgement is unsynced) and tears a random
 * range of what is left of that unsynced region (random bytes or zeros: the disk reorders
 * unsynced writes, so any part of it may be missing while later parts are intact).
 */
export function loseUnsyncedWal(
  file: string,
  syncedBytes: number,
  rnd: () => number,
): { cut: number; torn: number } {
  const wal = `${file}-wal`;
  let size = 0;
  try {
    size = statSync(wal).size;
  } catch {
    return { cut: 0, torn: 0 };
  }
  const from = Math.min(syncedBytes, size);
  const cut = from + Math.floor(rnd() * (size - from + 1));
  const fd = openSync(wal, "r+");
  try {
    const a = from + Math.floor(rnd() * (cut - from + 1));
    const b = a + Math.floor(rnd() * (cut - a + 1));
    const torn = b - a;
    if (torn > 0) {
      const bytes = Buffer.alloc(torn);
      if (rnd() < 0.5) for (let i = 0; i < torn; i++) bytes[i] = Math.floor(rnd() * 256);
      writeSync(fd, bytes, 0, torn, a);
    }
    ftruncateSync(fd, cut);
    return { cut: size - cut, torn };
  } finally {
    closeSync(fd);
  }
}
