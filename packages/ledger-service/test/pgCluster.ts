import { execFile } from "node:child_process";
import { access, chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./serveChild.js";

const run = promisify(execFile);

// A PostgreSQL cluster of a test's own (initdb in a temp dir, pg_ctl on a free port), so a
// test can stop it hard (`-m immediate`: a crash, no clean shutdown) and start it again.

const BIN_DIRS = [
  "/usr/lib/postgresql/17/bin",
  "/usr/lib/postgresql/16/bin",
  "/usr/lib/postgresql/15/bin",
];

/** A private PostgreSQL cluster. */
export interface PgCluster {
  readonly url: string;
  /** Stops the server like a crash (`pg_ctl stop -m immediate`). */
  crash(): Promise<void>;
  /** Starts it again on the same port and data (crash recovery replays the WAL). */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  remove(): Promise<void>;
}

async function binDir(): Promise<string | undefined> {
  for (const d of [process.env.PG_BIN_DIR, ...BIN_DIRS]) {
    if (d === undefined || d === "") continue;
    try {
      await access(join(d, "initdb"));
      await access(join(d, "pg_ctl"));
      return d;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * Creates and starts a cluster, or says why it cannot (no PostgreSQL binaries; initdb refuses
 * root, so as root the server runs as the `postgres` user through `runuser`).
 */
export async function startPgCluster(): Promise<PgCluster | { unavailable: string }> {
  const bin = await binDir();
  if (bin === undefined) {
    return { unavailable: `no initdb/pg_ctl in ${BIN_DIRS.join(", ")} (set PG_BIN_DIR)` };
  }
  const root = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), "maaskit-pg-"));
  if (root) {
    try {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      return { unavailable: `running as root and no postgres user to run the server: ${err}` };
    }
  }
  const as = (cmd: string, args: string[]) =>
    root
      ? run("runuser", ["-u", "postgres", "--", join(bin, cmd), ...args])
      : run(join(bin, cmd), args);
  const data = join(dir, "data");
  const port = await freePort();
  try {
    await as("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return { unavailable: `initdb failed: ${(err as Error).message}` };
  }
  const start = async () => {
    await as("pg_ctl", [
      "-D",
      data,
      "-o",
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=on`,
      "-l",
      join(dir, "server.log"),
      "-w",
      "start",
    ]);
  };
  const stop = (mode: "immediate" | "fast") => as("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    crash: async () => {
      await stop("immediate");
    },
    start,
    remove: async () => {
      await stop("fast").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
