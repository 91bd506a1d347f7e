import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import { loadSqlite } from "./loadSqlite.js";
import { type StorageError, storageError } from "./storageErrors.js";

/** Hash of "no previous entry": the `prev` of entry 0. */
export const STORE_GENESIS = `0x${"0".repeat(64)}`;

export interface OpenStoreParameters {
  /** The SQLite database file (its directory is created if missing). */
  file: string;
  /**
   * What the store holds (e.g. `"settlement.embeddedLedger/1"`); written when the file is
   * created and checked at every open, so a journal is never opened as a ledger.
   */
  kind: string;
  /** Statements that create the owner's tables (run in the first transaction; use IF NOT EXISTS). */
  schema?: readonly string[];
  /**
   * How the chain is checked at open:
   * - `"tail"` (default): the stored head, the last `tailEntries` entries and their links
   *   (open time independent of the history's length);
   * - `"full"`: every entry from the first.
   * A full check can be run any time with `verify()`.
   */
  verify?: "tail" | "full";
  /** Entries re-hashed at open with `verify: "tail"` (default 64). */
  tailEntries?: number;
  /**
   * SQLite's own structure check (`PRAGMA quick_check`) at open: `"auto"` (default) runs it
   * when the database is at most `quickCheckMaxBytes` (default 64 MiB), where it is cheap.
   */
  quickCheck?: "auto" | "always" | "never";
  quickCheckMaxBytes?: number;
}

/** One entry of the chain. */
export interface StoreEntry {
  readonly index: number;
  readonly kind: string;
  readonly body: string;
  /** Hash of the previous entry ({@link STORE_GENESIS} for entry 0). */
  readonly prev: string;
  /** sha256(prev ‖ index ‖ kind ‖ 0x00 ‖ body): what the next entry's `prev` must be. */
  readonly hash: string;
}

/** The position of the chain's last entry (`index: -1` and the genesis hash when empty). */
export interface StoreHead {
  readonly index: number;
  readonly hash: string;
}

/**
 * A single-writer SQLite database (WAL, `synchronous=FULL`, `locking_mode=EXCLUSIVE`)
 * holding an append-only, hash-chained list of entries plus whatever tables its owner keeps
 * beside them (derived state, updated in the same transaction as the entry that causes it).
 */
export interface Store {
  readonly file: string;
  /** The open connection, for the owner's own tables. Writes belong inside `transaction`. */
  readonly db: BetterSqlite3.Database;
  /**
   * Runs `fn` in one transaction: every entry appended and every row written in it
   * becomes durable together when it returns (the commit fsyncs the WAL), or not at all
   * when it throws.
   */
  transaction<T>(fn: () => T): T;
  /** Appends an entry to the chain; only inside `transaction`. */
  append(kind: string, body: string): StoreHead;
  head(): StoreHead;
  /** The entries from `from` (default 0), each checked against its hash and its predecessor. */
  entries(from?: number): IterableIterator<StoreEntry>;
  /** Re-hashes the whole chain; throws `metering.storage.corrupt` naming the first bad entry. */
  verify(): StoreHead;
  /**
   * Drops the entries up to and including `through` (their content was moved elsewhere,
   * e.g. to an archive); the chain then starts after them, from their last hash. Only
   * inside `transaction`.
   */
  prune(through: number): void;
  /** The last pruned entry (`index: -1` when nothing was pruned). */
  base(): StoreHead;
  getMeta(key: string): string | undefined;
  /** Sets a metadata value; only inside `transaction`. */
  setMeta(key: string, value: string): void;
  close(): void;
}

const FORMAT = "maaskit.storage/1";

/**
 * Opens (or creates) a store and takes its lock: SQLite's exclusive lock on the database
 * file (an OS lock, released by the kernel when the process dies), so two processes — or
 * two opens in one process — can never both hold it; the second gets
 * `metering.storage.locked`. A damaged chain is `metering.storage.corrupt` with the index of
 * the first bad entry; nothing is ever cut. A transaction that was not committed when the
 * process or the machine died is rolled back by SQLite; a committed one survives.
 *
 * @example
 * ```ts
 * const store = openStore({ file: "/var/lib/maaskit/ledger.db", kind: "my.log/1" });
 * store.transaction(() => store.append("note", JSON.stringify({ hello: "world" })));
 * ```
 */
export function openStore(params: OpenStoreParameters): Store {
  const file = path.resolve(params.file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const Database = loadSqlite();
  const existed = fs.existsSync(file) && fs.statSync(file).size > 0;
  let db: BetterSqlite3.Database;
  try {
    db = new Database(file, { timeout: 0 });
  } catch (err) {
    throw translate(err, file, "open");
  }
  try {
    // EXCLUSIVE before WAL: the WAL index then lives in this process's memory (no -shm
    // file) and the lock is held from the first access until close.
    db.pragma("locking_mode = EXCLUSIVE");
    const mode = db.pragma("journal_mode = WAL", { simple: true });
    if (String(mode).toLowerCase() !== "wal") {
      throw storageError("metering.storage.unavailable", `SQLite refused WAL mode (${mode})`, {
        file,
      });
    }
    db.pragma("synchronous = FULL");
    // Take the write lock now, not at the first write: the second opener fails here.
    db.exec("BEGIN EXCLUSIVE; COMMIT");
    const quick = params.quickCheck ?? "auto";
    const size = existed ? fs.statSync(file).size : 0;
    if (
      existed &&
      (quick === "always" ||
        (quick === "auto" && size <= (params.quickCheckMaxBytes ?? 64 * 1024 * 1024)))
    ) {
      const rows = db.pragma("quick_check") as Array<{ quick_check: string }>;
      const problems = rows.map((r) => r.quick_check).filter((r) => r !== "ok");
      if (problems.length > 0) {
        throw storageError(
          "metering.storage.corrupt",
          `SQLite database ${file} fails its structure check`,
          { file, problems: problems.slice(0, 10) },
        );
      }
    }
    return new StoreImpl(db, file, existed, params);
  } catch (err) {
    try {
      db.close();
    } catch {
      // Already unusable.
    }
    throw translate(err, file, "open");
  }
}

/** Maps a SQLite error to a storage error (a storage error passes through). @internal */
export function translate(err: unknown, file: string, during: string): StorageError {
  if ((err as { code?: string })?.code?.startsWith?.("metering.storage.")) {
    return err as StorageError;
  }
  const code = String((err as { code?: string })?.code ?? "");
  if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
    return storageError(
      "metering.storage.locked",
      `${file} is held by another process (or another open in this one)`,
      { file },
      err,
    );
  }
  if (code.startsWith("SQLITE_CORRUPT") || code.startsWith("SQLITE_NOTADB")) {
    return storageError(
      "metering.storage.corrupt",
      `SQLite database ${file} is damaged (${code} during ${during})`,
      { file, sqlite: code },
      err,
    );
  }
  return storageError(
    "metering.storage.unavailable",
    `SQLite database ${file} failed during ${during}: ${(err as Error)?.message ?? String(err)}`,
    { file, sqlite: code || undefined },
    err,
  );
}

/** The chain hash of an entry: sha256(prev ‖ index as u64 big-endian ‖ kind ‖ 0x00 ‖ body), 0x-hex. */
export function entryHash(prev: string, index: number, kind: string, body: string): string {
  const idx = Buffer.alloc(8);
  idx.writeBigUInt64BE(BigInt(index));
  return `0x${createHash("sha256")
    .update(Buffer.from(prev.slice(2), "hex"))
    .update(idx)
    .update(kind, "utf8")
    .update(Buffer.from([0]))
    .update(body, "utf8")
    .digest("hex")}`;
}

interface Row {
  idx: number;
  kind: string;
  body: string;
  prev: string;
  hash: string;
}

class StoreImpl implements Store {
  private headIndex = -1;
  private headHash = STORE_GENESIS;
  private baseHead: StoreHead = { index: -1, hash: STORE_GENESIS };
  private inTransaction = false;
  private closed = false;
  private readonly insert: BetterSqlite3.Statement;
  private readonly putMeta: BetterSqlite3.Statement;
  private readonly readMeta: BetterSqlite3.Statement;

  constructor(
    readonly db: BetterSqlite3.Database,
    readonly file: string,
    existed: boolean,
    params: OpenStoreParameters,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS chain (
        idx INTEGER PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL,
        prev TEXT NOT NULL, hash TEXT NOT NULL)`);
    this.insert = db.prepare("INSERT INTO chain (idx, kind, body, prev, hash) VALUES (?,?,?,?,?)");
    this.putMeta = db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    );
    this.readMeta = db.prepare("SELECT value FROM meta WHERE key = ?").pluck();
    const format = this.getMeta("format");
    if (format === undefined) {
      if (existed && this.lastRow() !== undefined) {
        throw this.corrupt(0, "the database has entries but no format mark");
      }
      db.transaction(() => {
        this.putMeta.run("format", FORMAT);
        this.putMeta.run("kind", params.kind);
        this.putMeta.run("head", JSON.stringify({ index: -1, hash: STORE_GENESIS }));
        for (const s of params.schema ?? []) db.exec(s);
      })();
    } else {
      if (format !== FORMAT) {
        throw storageError(
          "metering.storage.invalidConfig",
          `${file} is of format ${format}, not ${FORMAT}`,
          {
            file,
            format,
          },
        );
      }
      const kind = this.getMeta("kind");
      if (kind !== params.kind) {
        throw storageError(
          "metering.storage.invalidConfig",
          `${file} holds ${kind}, not ${params.kind}`,
          { file, kind, expected: params.kind },
        );
      }
      db.transaction(() => {
        for (const s of params.schema ?? []) db.exec(s);
      })();
    }
    this.checkHead(
      params.verify === "full" ? Number.POSITIVE_INFINITY : (params.tailEntries ?? 64),
    );
  }

  private lastRow(): Row | undefined {
    return this.db.prepare("SELECT * FROM chain ORDER BY idx DESC LIMIT 1").get() as
      | Row
      | undefined;
  }

  /** The stored head must be the last entry, and the last `n` entries must hash and link. */
  private checkHead(n: number): void {
    let stored: StoreHead;
    try {
      stored = JSON.parse(this.getMeta("head") ?? "") as StoreHead;
    } catch {
      throw this.corrupt(-1, "the stored head is unreadable");
    }
    const baseText = this.getMeta("base");
    if (baseText !== undefined) {
      try {
        this.baseHead = JSON.parse(baseText) as StoreHead;
      } catch {
        throw this.corrupt(-1, "the stored base is unreadable");
      }
    }
    const base = this.baseHead;
    const last = this.lastRow();
    const lastIndex = last?.idx ?? base.index;
    if (lastIndex !== stored.index) {
      throw this.corrupt(
        Math.min(lastIndex, stored.index) + 1,
        lastIndex < stored.index
          ? `entries ${lastIndex + 1}..${stored.index} are missing`
          : `entries after ${stored.index} are not part of the chain`,
        { storedHead: stored.index, lastEntry: lastIndex },
      );
    }
    const from = Math.max(base.index + 1, Number.isFinite(n) ? lastIndex - n + 1 : 0);
    let expectedPrev = base.hash;
    if (from > base.index + 1) {
      const before = this.db.prepare("SELECT * FROM chain WHERE idx = ?").get(from - 1) as
        | Row
        | undefined;
      if (before === undefined) throw this.corrupt(from - 1, "entry is missing");
      expectedPrev = before.hash;
    }
    let index = from - 1;
    let hash = expectedPrev;
    for (const e of this.iterate(from, expectedPrev)) {
      index = e.index;
      hash = e.hash;
    }
    if (index !== lastIndex || hash !== stored.hash) {
      throw this.corrupt(lastIndex, "the last entry is not the stored head", {
        storedHash: stored.hash,
        hash,
      });
    }
    this.headIndex = lastIndex;
    this.headHash = hash;
  }

  private *iterate(from: number, prevHash: string): IterableIterator<StoreEntry> {
    let expected = from;
    let prev = prevHash;
    const stmt = this.db.prepare("SELECT * FROM chain WHERE idx >= ? ORDER BY idx");
    for (const r of stmt.iterate(from) as IterableIterator<Row>) {
      if (r.idx !== expected) throw this.corrupt(expected, "entry is missing");
      if (r.prev !== prev) {
        throw this.corrupt(r.idx, "entry does not link to the previous entry", {
          prev: r.prev,
          expectedPrev: prev,
        });
      }
      const hash = entryHash(r.prev, r.idx, r.kind, r.body);
      if (hash !== r.hash) {
        throw this.corrupt(r.idx, "entry does not match its hash", { hash: r.hash });
      }
      yield { index: r.idx, kind: r.kind, body: r.body, prev: r.prev, hash };
      prev = hash;
      expected++;
    }
  }

  private corrupt(index: number, reason: string, extra: Record<string, unknown> = {}) {
    return storageError("metering.storage.corrupt", `${this.file}: entry ${index}: ${reason}`, {
      file: this.file,
      index,
      reason,
      ...extra,
    });
  }

  transaction<T>(fn: () => T): T {
    this.assertOpen();
    if (this.inTransaction) return fn();
    const head = { index: this.headIndex, hash: this.headHash };
    const base = this.baseHead;
    this.inTransaction = true;
    try {
      return this.db.transaction(() => {
        const out = fn();
        if (this.headIndex !== head.index) {
          this.putMeta.run("head", JSON.stringify({ index: this.headIndex, hash: this.headHash }));
        }
        return out;
      })();
    } catch (err) {
      this.headIndex = head.index;
      this.headHash = head.hash;
      this.baseHead = base;
      if ((err as { code?: string })?.code?.startsWith?.("SQLITE_")) {
        throw translate(err, this.file, "a transaction");
      }
      throw err;
    } finally {
      this.inTransaction = false;
    }
  }

  append(kind: string, body: string): StoreHead {
    if (!this.inTransaction) throw new Error("Store.append must run inside transaction()");
    const index = this.headIndex + 1;
    const hash = entryHash(this.headHash, index, kind, body);
    this.insert.run(index, kind, body, this.headHash, hash);
    this.headIndex = index;
    this.headHash = hash;
    return { index, hash };
  }

  head(): StoreHead {
    return { index: this.headIndex, hash: this.headHash };
  }

  entries(from = this.baseHead.index + 1): IterableIterator<StoreEntry> {
    this.assertOpen();
    if (from <= this.baseHead.index) {
      throw storageError(
        "metering.storage.invalidConfig",
        `entries up to ${this.baseHead.index} were pruned`,
        {
          file: this.file,
          from,
        },
      );
    }
    let prev = this.baseHead.hash;
    if (from > this.baseHead.index + 1) {
      const before = this.db
        .prepare("SELECT hash FROM chain WHERE idx = ?")
        .pluck()
        .get(from - 1);
      if (typeof before !== "string") throw this.corrupt(from - 1, "entry is missing");
      prev = before;
    }
    return this.iterate(from, prev);
  }

  verify(): StoreHead {
    this.assertOpen();
    let index = this.baseHead.index;
    let hash = this.baseHead.hash;
    for (const e of this.iterate(index + 1, hash)) {
      index = e.index;
      hash = e.hash;
    }
    if (index !== this.headIndex || hash !== this.headHash) {
      throw this.corrupt(index + 1, "the chain ends before its head");
    }
    return { index, hash };
  }

  prune(through: number): void {
    if (!this.inTransaction) throw new Error("Store.prune must run inside transaction()");
    if (through <= this.baseHead.index) return;
    if (through > this.headIndex) throw new Error(`cannot prune past the head (${through})`);
    const hash = this.db.prepare("SELECT hash FROM chain WHERE idx = ?").pluck().get(through);
    if (typeof hash !== "string") throw this.corrupt(through, "entry is missing");
    this.db.prepare("DELETE FROM chain WHERE idx <= ?").run(through);
    this.baseHead = { index: through, hash };
    this.putMeta.run("base", JSON.stringify(this.baseHead));
  }

  base(): StoreHead {
    return { ...this.baseHead };
  }

  getMeta(key: string): string | undefined {
    return this.readMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string): void {
    if (!this.inTransaction) throw new Error("Store.setMeta must run inside transaction()");
    this.putMeta.run(key, value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw storageError("metering.storage.closed", `${this.file} is closed`);
  }
}
