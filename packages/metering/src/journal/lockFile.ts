import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { journalError } from "./errors.js";
import { fsyncDir } from "./fsUtil.js";

/** What a lock file says about its holder. @internal */
export interface LockInfo {
  pid: number;
  hostname: string;
  /** Process start time from /proc (clock ticks since boot), guards against pid reuse. */
  startTime?: string;
  createdAt: string;
}

/** A held lock; `release()` removes the lock file if it is still ours. @internal */
export interface HeldLock {
  readonly file: string;
  release(): void;
}

/**
 * Takes the single-writer lock `<dir>/journal.lock`. The lock content is written to a
 * private temp file first and then hard-linked into place, so the lock file is never seen
 * half-written; `link` fails with EEXIST atomically when another process holds it. A lock
 * left by a dead process on this host (pid gone, or pid reused by a process with another
 * start time) is stale and is broken.
 * @internal
 */
export function acquireLock(dir: string): HeldLock {
  const file = path.join(dir, "journal.lock");
  const me: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    createdAt: new Date().toISOString(),
  };
  const start = processStartTime(process.pid);
  if (start !== undefined) me.startTime = start;
  removeDeadTemps(dir);
  const tmp = path.join(dir, `.journal.lock.${process.pid}.${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(tmp, JSON.stringify(me));
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(tmp, file);
        fsyncDir(dir);
        return {
          file,
          release() {
            try {
              const held = readLock(file);
              if (held?.pid === me.pid && held.createdAt === me.createdAt) fs.unlinkSync(file);
            } catch {
              // Already gone: nothing to release.
            }
          },
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const holder = readLock(file);
      if (holder !== undefined && !isStale(holder)) {
        throw journalError(
          "metering.journal.locked",
          `Journal ${dir} is locked by process ${holder.pid} on ${holder.hostname}`,
          { dir, holder },
        );
      }
      // Stale (or unreadable: a lock is only ever linked complete, so garbage means damage).
      try {
        fs.unlinkSync(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
    throw journalError("metering.journal.locked", `Could not take the lock of journal ${dir}`, {
      dir,
    });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(file, "utf8")) as LockInfo;
    return typeof info.pid === "number" && typeof info.hostname === "string" ? info : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      return { pid: -1, hostname: os.hostname(), createdAt: "" };
    }
    return undefined;
  }
}

function isStale(holder: LockInfo): boolean {
  if (holder.pid === -1) return true; // vanished while we looked
  // A lock from another host can't be checked from here: never break it.
  if (holder.hostname !== os.hostname()) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return true;
    return false; // EPERM: alive, owned by someone else
  }
  if (holder.startTime !== undefined) {
    const now = processStartTime(holder.pid);
    if (now !== undefined && now !== holder.startTime) return true; // pid reused
  }
  return false;
}

function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Field 22; the command name (field 2) may contain spaces, so split after its ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Temp lock files of processes killed between writing and linking them. */
function removeDeadTemps(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const m = /^\.journal\.lock\.(\d+)\.[a-z0-9]*$/.exec(name);
    if (m === null) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH")
        fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}
