import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { ledgerError } from "../../ledgerErrors.js";

/** Directories this process holds open, so a second open in the same process is refused too. */
const heldHere = new Set<string>();

/** A held single-writer lock on a ledger directory. */
export interface DirLock {
  release(): void;
}

/**
 * Takes the single-writer lock of a ledger directory: a `LOCK` file holding the owner's
 * pid. A lock left by a process that no longer runs (killed, crashed) is taken over;
 * one held by a live process throws `settlement.ledger.locked`.
 *
 * @example const lock = acquireDirLock(dir); try { … } finally { lock.release() }
 */
export function acquireDirLock(dir: string): DirLock {
  const path = join(dir, "LOCK");
  if (heldHere.has(path)) {
    throw ledgerError("settlement.ledger.locked", "The ledger is already open in this process", {
      dir,
    });
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      heldHere.add(path);
      return {
        release() {
          if (!heldHere.delete(path)) return;
          rmSync(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isSafeInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw ledgerError("settlement.ledger.locked", "The ledger is open in another process", {
          dir,
          pid: owner,
        });
      }
      // Stale lock (its owner died): remove it and try once more.
      rmSync(path, { force: true });
    }
  }
  throw ledgerError("settlement.ledger.locked", "Could not take the ledger lock", { dir });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
