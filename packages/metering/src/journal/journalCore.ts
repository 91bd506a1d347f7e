// The journal's committed state and how it is read, saved and restored: what `openJournal`'s
// writer (group commit, fsync), `migrateLegacyJournal` and `compactJournal` share. Internal.
import * as fs from "node:fs";
import * as path from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import type { Decimal } from "decimal.js";
import { dec } from "../quantity.js";
import { entryHash, type Store } from "../storage/openStore.js";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { type JournalError, journalError } from "./errors.js";
import { fsyncDir, renameAside } from "./fsUtil.js";
import { IntervalSet } from "./intervals.js";
import type { JournalCodec } from "./journalCodec.js";
import {
  type JournalFsyncMode,
  type JournalRecovery,
  type JournalState,
  type SavedState,
  ZERO_HASH,
} from "./journalTypes.js";
import { migrateLegacyJournal } from "./migrateLegacyJournal.js";
import { listArchiveFiles } from "./readArchive.js";

type Statement = BetterSqlite3.Statement<unknown[]>;

export const LEGACY_FILE = "journal.log";

/**
 * The committed (durable) state of an open journal and its reads. Its fields are shared with
 * the modules that write the journal; not exported from the package.
 */
export class JournalCore<R> {
  readonly recovery: JournalRecovery = {};
  closed = false;

  genesis: { seq: number; hash: string };
  nextSeq: number;
  head: string;
  registers = new Map<string, string>();
  acked = new IntervalSet();
  archive: SavedState["archive"] = null;
  private walFd: number | undefined;

  readonly entryOf: Statement;
  readonly putRecord: Statement;
  readonly deleteRecords: Statement;

  constructor(
    readonly dir: string,
    readonly codec: JournalCodec<R>,
    genesisOption: { seq: number; hash: string } | undefined,
    readonly store: Store,
    readonly mode: JournalFsyncMode = "always",
  ) {
    this.entryOf = store.db.prepare(
      "SELECT c.idx AS idx, c.kind AS kind, c.body AS body, c.prev AS prev, c.hash AS hash FROM records r JOIN chain c ON c.idx = r.entry WHERE r.seq = ?",
    );
    this.putRecord = store.db.prepare("INSERT INTO records (seq, entry) VALUES (?, ?)");
    this.deleteRecords = store.db.prepare("DELETE FROM records WHERE seq <= ?");
    this.genesis = genesisOption ?? { seq: 0, hash: ZERO_HASH };
    this.nextSeq = this.genesis.seq;
    this.head = this.genesis.hash;
    const saved = store.getMeta("state");
    if (saved === undefined) {
      const legacy = path.join(dir, LEGACY_FILE);
      if (fs.existsSync(legacy)) migrateLegacyJournal(this, legacy, genesisOption);
      else store.transaction(() => this.saveState());
    } else {
      this.loadState(saved, genesisOption);
      // Committed, but the process died before the old file was renamed.
      const legacy = path.join(dir, LEGACY_FILE);
      if (fs.existsSync(legacy) && store.getMeta("migratedFrom") !== undefined) {
        renameAside(legacy);
      }
    }
  }

  // ---- state ---------------------------------------------------------------------------

  savedState(): SavedState {
    return {
      v: 1,
      genesis: this.genesis,
      nextSeq: this.nextSeq,
      head: this.head,
      registers: Object.fromEntries([...this.registers].sort(([a], [b]) => (a < b ? -1 : 1))),
      acked: this.acked.toJSON(),
      archive: this.archive,
    };
  }

  /** Takes the chain position, registers, acks and archive from a saved state. */
  restoreState(s: SavedState): void {
    this.genesis = s.genesis;
    this.nextSeq = s.nextSeq;
    this.head = s.head;
    this.registers = new Map(Object.entries(s.registers));
    this.acked = new IntervalSet(s.acked);
    this.archive = s.archive;
  }

  saveState(): void {
    this.store.setMeta("state", canonicalJson(this.savedState() as unknown as JsonValue));
  }

  loadState(text: string, genesisOption: { seq: number; hash: string } | undefined): void {
    let s: SavedState;
    try {
      s = JSON.parse(text) as SavedState;
    } catch (err) {
      throw journalError(
        "metering.journal.corrupt",
        "The journal's saved state is unreadable",
        { dir: this.dir },
        err,
      );
    }
    checkGenesis(genesisOption, s.genesis);
    this.restoreState(s);
    // The saved head must be the last record's hash: the store's chain checked the entries,
    // this ties the saved state to them.
    const lastSeq = this.nextSeq - 1;
    if (lastSeq > this.archivedThrough()) {
      const record = this.readRecord(lastSeq);
      if (this.codec.hash(record) !== this.head) {
        throw journalError(
          "metering.journal.corrupt",
          `The saved head is not record ${lastSeq}'s hash`,
          {
            dir: this.dir,
            seq: lastSeq,
          },
        );
      }
    }
  }

  commitRecord(record: R, seq: number): void {
    this.nextSeq = seq + 1;
    this.head = this.codec.hash(record);
    const regs = this.codec.registers?.(record);
    if (regs)
      for (const [channel, value] of Object.entries(regs)) this.registers.set(channel, value);
  }

  /** The WAL file, opened once (after the first commit created it) to fsync it. */
  wal(): number {
    if (this.walFd === undefined) {
      this.walFd = fs.openSync(`${this.store.file}-wal`, "r+");
      fsyncDir(this.dir);
    }
    return this.walFd;
  }

  closeWal(): void {
    if (this.walFd !== undefined) fs.closeSync(this.walFd);
  }

  // ---- reading -----------------------------------------------------------------------

  state(): JournalState {
    const archivedThrough = this.archivedThrough();
    const ackedThrough = this.acked.contiguousFrom(archivedThrough);
    const appended = this.nextSeq - archivedThrough - 1;
    const registers: Record<string, Decimal> = {};
    for (const [channel, value] of [...this.registers].sort(([a], [b]) => (a < b ? -1 : 1))) {
      registers[channel] = dec(value);
    }
    return {
      nextSeq: this.nextSeq,
      head: this.head,
      registers,
      ackedThrough: Math.min(ackedThrough, this.nextSeq - 1),
      unacked: appended - this.acked.countIn(archivedThrough + 1, this.nextSeq - 1),
      firstSeq: archivedThrough + 1,
      archivedThrough,
      genesis: { ...this.genesis },
    };
  }

  last(): R | undefined {
    this.assertOpen();
    const seq = this.nextSeq - 1;
    if (seq < this.genesis.seq) return undefined;
    if (seq > this.archivedThrough()) return this.readRecord(seq);
    const payload = this.existingPayload(seq);
    if (payload === undefined) {
      throw journalError(
        "metering.journal.corrupt",
        `Record ${seq} was archived but is not in the archive ${this.archive?.dir}`,
        { seq, archiveDir: this.archive?.dir },
      );
    }
    return this.codec.decode((JSON.parse(payload) as { record: JsonValue }).record);
  }

  archivedThrough(): number {
    return this.archive?.through ?? this.genesis.seq - 1;
  }

  /** The payload of a live record, checked against its entry's hash. */
  readPayload(seq: number): string {
    let row: { idx: number; kind: string; body: string; prev: string; hash: string } | undefined;
    try {
      row = this.entryOf.get(seq) as typeof row;
    } catch (err) {
      throw fromStorage(err, this.dir);
    }
    if (row === undefined) {
      throw journalError("metering.journal.corrupt", `Record ${seq} is not in the live journal`, {
        dir: this.dir,
        seq,
      });
    }
    if (row.kind !== "record" || entryHashOf(row) !== row.hash) {
      throw journalError(
        "metering.journal.corrupt",
        `Entry ${row.idx} (record ${seq}) does not match its hash`,
        {
          dir: this.dir,
          seq,
          entry: row.idx,
        },
      );
    }
    return row.body;
  }

  readRecord(seq: number): R {
    const entry = JSON.parse(this.readPayload(seq)) as { record: JsonValue };
    const record = this.codec.decode(entry.record);
    if (toSeq(this.codec.seq(record)) !== seq) {
      throw journalError(
        "metering.journal.corrupt",
        `The entry of record ${seq} holds another seq`,
        {
          dir: this.dir,
          seq,
        },
      );
    }
    return record;
  }

  /** Payload of an already committed record (live journal or archive). */
  existingPayload(seq: number): string | undefined {
    if (seq > this.archivedThrough()) return this.readPayload(seq);
    const archive = this.archive;
    if (archive === null) return undefined;
    for (const f of listArchiveFiles(archive.dir)) {
      if (seq < f.from || seq > f.to) continue;
      const lines = fs.readFileSync(path.join(archive.dir, f.name), "utf8").split("\n");
      const line = lines[seq - f.from];
      if (line === undefined) return undefined;
      return `{"k":"record","record":${line}}`;
    }
    return undefined;
  }

  assertOpen(): void {
    if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
  }
}

/** A genesis given at open must be the one the journal was created with. */
export function checkGenesis(
  given: { seq: number; hash: string } | undefined,
  stored: { seq: number; hash: string },
): void {
  if (given !== undefined && (given.seq !== stored.seq || given.hash !== stored.hash)) {
    throw journalError(
      "metering.journal.invalidConfig",
      "genesis differs from the one this journal was created with",
      { given, stored },
    );
  }
}

/** Maps a storage error to the journal's codes (keeping it as the cause). */
export function fromStorage(err: unknown, dir: string): unknown {
  const code = (err as { code?: string })?.code;
  if (typeof code !== "string" || !code.startsWith("metering.storage.")) return err;
  const e = err as JournalError;
  const mapped =
    code === "metering.storage.locked"
      ? "metering.journal.locked"
      : code === "metering.storage.corrupt"
        ? "metering.journal.corrupt"
        : code === "metering.storage.closed"
          ? "metering.journal.closed"
          : code === "metering.storage.invalidConfig"
            ? "metering.journal.invalidConfig"
            : "metering.journal.writeFailed";
  const index = (e.details as { index?: number }).index;
  return journalError(
    mapped,
    e.shortMessage,
    { dir, ...(index === undefined ? {} : { entry: index }) },
    err,
  );
}

function entryHashOf(row: { idx: number; kind: string; body: string; prev: string }): string {
  return entryHash(row.prev, row.idx, row.kind, row.body);
}

/** The SQLite result code of a failed write (e.g. `SQLITE_FULL`), or the errno. */
export function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: string })?.code;
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  return cause ?? code;
}

export function toSeq(seq: number | bigint): number {
  const n = typeof seq === "bigint" ? Number(seq) : seq;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw journalError(
      "metering.journal.outOfOrder",
      `Record seq ${String(seq)} is not a valid seq`,
      {
        seq: String(seq),
      },
    );
  }
  return n;
}
