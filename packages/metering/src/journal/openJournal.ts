import * as fs from "node:fs";
import * as path from "node:path";
import type { Decimal } from "decimal.js";
import { type Observable, Subject } from "rxjs";
import { dec } from "../quantity.js";
import { entryHash, openStore, type Store } from "../storage/openStore.js";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { type JournalError, journalError } from "./errors.js";
import { fsyncDir, writeFileAtomic } from "./fsUtil.js";
import { IntervalSet } from "./intervals.js";
import { type ChainEntry, chainEntryCodec, type JournalCodec } from "./journalCodec.js";
import { archiveFileName, listArchiveFiles } from "./readArchive.js";
import { readLegacyJournal } from "./readLegacyJournal.js";

/** When the journal calls fsync on appended entries. */
export type JournalFsyncMode = "always" | "batch" | "never";

/** The 32-byte zero hash: the `prevHash` of the first record of a fresh chain. */
export const ZERO_HASH = `0x${"0".repeat(64)}`;

export interface OpenJournalParameters<R = ChainEntry> {
  /** Directory of the journal (created if missing). One journal per directory. */
  dir: string;
  /** How records are encoded, sequenced and chained. Defaults to {@link chainEntryCodec}. */
  codec?: JournalCodec<R>;
  /**
   * - `"always"` (default) and `"batch"`: every append is committed (SQLite WAL,
   *   `synchronous=FULL`: fsynced) before it resolves; appends issued in the same tick share
   *   one transaction and one fsync (group commit).
   * - `"never"`: committed without fsync (`synchronous=OFF`): survives a process crash, not
   *   a power loss.
   */
  fsync?: JournalFsyncMode;
  /**
   * Where the chain starts, used only when the journal is created: the first `seq` and the
   * `prevHash` the first record must carry. Default `{ seq: 0, hash: ZERO_HASH }`. When
   * given for an existing journal it must match what the journal was created with.
   */
  genesis?: { seq: number; hash: string };
}

/** What the journal knows (saved with every change, read at open). */
export interface JournalState {
  /** The seq the next appended record must carry. */
  nextSeq: number;
  /** Hash of the last appended record (the genesis hash when empty): the next `prevHash`. */
  head: string;
  /** Last register value per channel, from the records' `registers`. */
  registers: Readonly<Record<string, Decimal>>;
  /** Every seq up to and including this one is acknowledged (`genesis.seq - 1` if none). */
  ackedThrough: number;
  /** How many appended records are not acknowledged. */
  unacked: number;
  /** First seq still held in the live journal file (earlier ones are in the archive). */
  firstSeq: number;
  /** Last seq moved to the archive by `compact` (`genesis.seq - 1` if none). */
  archivedThrough: number;
  genesis: { seq: number; hash: string };
}

/** A change the journal made durable. */
export type JournalChange =
  | { type: "append"; seq: number }
  | { type: "ack"; from: number; to: number }
  | { type: "compact"; archivedThrough: number };

/** What `openJournal` had to repair or migrate (reported, never silent). */
export interface JournalRecovery {
  /**
   * A file-based journal (before SQLite) ended in a torn write: its bytes were copied to
   * `quarantineFile` (`journal.log.recovered`) and left out of the migration.
   */
  tornTail?: { offset: number; length: number; reason: string; quarantineFile: string };
  /** The file-based journal this directory was migrated from, kept under a new name. */
  migratedFrom?: { file: string; records: number };
}

export interface CompactResult {
  /** Records moved to the archive by this call. */
  archived: number;
  /** The archive file written (absent when nothing new needed archiving). */
  file?: string;
  archivedThrough: number;
}

/** An append-only, crash-safe journal of hash-chained records (the gateway's outbox). */
export interface Journal<R = ChainEntry> {
  readonly dir: string;
  /** The codec the journal was opened with (how to read a record's seq and hashes). */
  readonly codec: JournalCodec<R>;
  readonly recovery: JournalRecovery;
  /** Durable changes, emitted after they are written (and fsynced, per the mode). */
  readonly changes$: Observable<JournalChange>;
  /**
   * Appends a record. It must carry `seq === nextSeq` and `prevHash === head`
   * (`metering.journal.outOfOrder` / `.chainBroken` otherwise). Re-appending a record that
   * is already journaled with identical content is a no-op; with different content it is
   * `metering.journal.conflict`. Resolves once durable; a failed write rejects with
   * `metering.journal.writeFailed` and leaves the journal as it was.
   */
  append(record: R): Promise<void>;
  /** Marks one seq or a range as acknowledged by a ledger; the mark is itself an entry. */
  appendAck(target: number | { from: number; to: number }, ledgerRef?: string): Promise<void>;
  state(): JournalState;
  /**
   * The last appended record (from the archive when it was compacted away), or undefined
   * for an empty chain: what a restarted producer resumes from.
   */
  last(): R | undefined;
  /** Durable records not yet acknowledged, in seq order (including ones appended meanwhile). */
  unacknowledged(): AsyncIterable<R>;
  /** Durable records of the live journal from `fromSeq` (default: the first live one). */
  read(fromSeq?: number): AsyncIterable<R>;
  /**
   * Moves acknowledged records to an append-only JSON Lines archive in `archiveDir`, then
   * rewrites the journal atomically without them. Use the same `archiveDir` every time.
   */
  compact(options: { archiveDir: string }): Promise<CompactResult>;
  /**
   * Re-hashes every live entry of the store and re-checks the records' own chain (seq,
   * prevHash); `metering.journal.corrupt` names the first bad entry.
   */
  verify(): Promise<{ records: number }>;
  /** Waits for pending appends, closes the database and releases its lock. */
  close(): Promise<void>;
}

/** What the journal saves with every change (the `state` metadata row). */
interface SavedState {
  v: 1;
  genesis: { seq: number; hash: string };
  nextSeq: number;
  head: string;
  registers: Record<string, string>;
  acked: Array<[number, number]>;
  archive: { through: number; head: string; dir: string } | null;
}

interface Pending {
  kind: "record" | "ack";
  payload: string;
  commit(entry: number): void;
  resolve(): void;
  reject(err: unknown): void;
}

const DB_FILE = "journal.db";
const LEGACY_FILE = "journal.log";
const KIND = "metering.journal/1";
const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, entry INTEGER NOT NULL)",
];

/**
 * Opens (or creates) the journal in `dir`: a SQLite database `journal.db` (WAL,
 * `synchronous=FULL`, an exclusive OS lock held while open, so a second writer gets
 * `metering.journal.locked`). Every record and acknowledgement is one hash-chained entry,
 * committed with the journal's state before the call resolves; a power loss loses at most
 * appends that had not resolved, and the next open needs nobody. A damaged entry is
 * `metering.journal.corrupt` naming it — nothing is ever cut. A directory written by the
 * file-based journal (`journal.log`) is migrated at first open, the old file kept renamed.
 *
 * @example
 * ```ts
 * const journal = await openJournal({ dir: "/var/lib/gateway/journal", codec: meterRecordCodec });
 * await journal.append(record);
 * const { nextSeq, head } = journal.state();
 * ```
 */
export async function openJournal<R = ChainEntry>(
  params: OpenJournalParameters<R>,
): Promise<Journal<R>> {
  const problems: string[] = [];
  const mode = params.fsync ?? "always";
  if (typeof params.dir !== "string" || params.dir === "") problems.push("dir must be a path");
  if (!["always", "batch", "never"].includes(mode)) {
    problems.push(`fsync must be "always", "batch" or "never", got ${String(mode)}`);
  }
  if (params.genesis !== undefined) {
    if (!Number.isSafeInteger(params.genesis.seq) || params.genesis.seq < 0) {
      problems.push("genesis.seq must be a non-negative safe integer");
    }
    if (typeof params.genesis.hash !== "string") problems.push("genesis.hash must be a string");
  }
  if (problems.length > 0) {
    throw journalError("metering.journal.invalidConfig", problems.join("; "), { problems });
  }
  const dir = path.resolve(params.dir);
  fs.mkdirSync(dir, { recursive: true });
  let store: Store;
  try {
    store = openStore({ file: path.join(dir, DB_FILE), kind: KIND, schema: SCHEMA });
  } catch (err) {
    throw fromStorage(err, dir);
  }
  try {
    if (mode === "never") store.db.pragma("synchronous = OFF");
    return new JournalImpl<R>(
      dir,
      (params.codec ?? chainEntryCodec) as JournalCodec<R>,
      params.genesis,
      store,
    );
  } catch (err) {
    store.close();
    throw fromStorage(err, dir);
  }
}

/** Maps a storage error to the journal's codes (keeping it as the cause). */
function fromStorage(err: unknown, dir: string): unknown {
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

class JournalImpl<R> implements Journal<R> {
  readonly recovery: JournalRecovery = {};
  private readonly changes = new Subject<JournalChange>();
  readonly changes$: Observable<JournalChange> = this.changes.asObservable();
  private closed = false;

  // Committed (durable) state.
  private genesis: { seq: number; hash: string };
  private nextSeq: number;
  private head: string;
  private registers = new Map<string, string>();
  private acked = new IntervalSet();
  private archive: SavedState["archive"] = null;

  // Tentative state: committed plus the appends waiting in `queue`.
  private tNextSeq: number;
  private tHead: string;
  private queue: Pending[] = [];
  private queuedRecords = new Map<number, { payload: string; done: Promise<void> }>();
  private flushScheduled = false;
  private idleWaiters: Array<() => void> = [];

  private readonly entryOf;
  private readonly putRecord;
  private readonly deleteRecords;

  constructor(
    readonly dir: string,
    readonly codec: JournalCodec<R>,
    genesisOption: { seq: number; hash: string } | undefined,
    private readonly store: Store,
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
      if (fs.existsSync(legacy)) this.migrate(legacy, genesisOption);
      else store.transaction(() => this.saveState());
    } else {
      this.loadState(saved, genesisOption);
      // Committed, but the process died before the old file was renamed.
      const legacy = path.join(dir, LEGACY_FILE);
      if (fs.existsSync(legacy) && store.getMeta("migratedFrom") !== undefined) {
        renameAside(legacy);
      }
    }
    this.tNextSeq = this.nextSeq;
    this.tHead = this.head;
  }

  // ---- state ---------------------------------------------------------------------------

  private savedState(): SavedState {
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

  private saveState(): void {
    this.store.setMeta("state", canonicalJson(this.savedState() as unknown as JsonValue));
  }

  private loadState(text: string, genesisOption: { seq: number; hash: string } | undefined): void {
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
    if (
      genesisOption !== undefined &&
      (genesisOption.seq !== s.genesis.seq || genesisOption.hash !== s.genesis.hash)
    ) {
      throw journalError(
        "metering.journal.invalidConfig",
        "genesis differs from the one this journal was created with",
        { given: genesisOption, stored: s.genesis },
      );
    }
    this.genesis = s.genesis;
    this.nextSeq = s.nextSeq;
    this.head = s.head;
    this.registers = new Map(Object.entries(s.registers));
    this.acked = new IntervalSet(s.acked);
    this.archive = s.archive;
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

  private migrate(file: string, genesisOption: { seq: number; hash: string } | undefined): void {
    const legacy = readLegacyJournal(file);
    const cp = legacy.checkpoint;
    if (
      genesisOption !== undefined &&
      (genesisOption.seq !== cp.genesis.seq || genesisOption.hash !== cp.genesis.hash)
    ) {
      throw journalError(
        "metering.journal.invalidConfig",
        "genesis differs from the one this journal was created with",
        { given: genesisOption, stored: cp.genesis },
      );
    }
    if (legacy.tornTail !== undefined) {
      const quarantineFile = path.join(this.dir, `${LEGACY_FILE}.recovered`);
      writeFileAtomic(quarantineFile, legacy.tornTail.bytes);
      this.recovery.tornTail = {
        offset: legacy.tornTail.offset,
        length: legacy.tornTail.bytes.length,
        reason: legacy.tornTail.reason,
        quarantineFile,
      };
    }
    this.genesis = cp.genesis;
    this.nextSeq = cp.nextSeq;
    this.head = cp.head;
    this.registers = new Map(Object.entries(cp.registers));
    this.acked = new IntervalSet(cp.acked);
    this.archive = cp.archive;
    let records = 0;
    this.store.transaction(() => {
      legacy.entries.forEach((entry, i) => {
        const where = { file, entry: i + 1 };
        if (entry.k === "record") {
          let record: R;
          try {
            record = this.codec.decode(entry.record as JsonValue);
          } catch (err) {
            throw journalError("metering.journal.corrupt", "A record does not decode", where, err);
          }
          const seq = toSeq(this.codec.seq(record));
          if (seq !== this.nextSeq || this.codec.prevHash(record) !== this.head) {
            throw journalError(
              "metering.journal.corrupt",
              `Record ${seq} does not continue the chain`,
              {
                ...where,
                expectedSeq: this.nextSeq,
              },
            );
          }
          const payload = canonicalJson({ k: "record", record: this.codec.encode(record) });
          const { index } = this.store.append("record", payload);
          this.putRecord.run(seq, index);
          this.commitRecord(record, seq);
          records++;
        } else if (entry.k === "ack") {
          const from = entry.from as number;
          const to = entry.to as number;
          if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to >= this.nextSeq) {
            throw journalError(
              "metering.journal.corrupt",
              "Acknowledgement of records not in the journal",
              where,
            );
          }
          this.store.append("ack", canonicalJson(entry as JsonValue));
          this.acked.add(from, to);
        } else {
          throw journalError(
            "metering.journal.corrupt",
            `Unexpected entry kind ${String(entry.k)}`,
            where,
          );
        }
      });
      this.saveState();
      this.store.setMeta("migratedFrom", JSON.stringify({ file: LEGACY_FILE, records }));
    });
    this.recovery.migratedFrom = { file: renameAside(file), records };
  }

  private commitRecord(record: R, seq: number): void {
    this.nextSeq = seq + 1;
    this.head = this.codec.hash(record);
    const regs = this.codec.registers?.(record);
    if (regs)
      for (const [channel, value] of Object.entries(regs)) this.registers.set(channel, value);
  }

  // ---- writing ------------------------------------------------------------------------

  async append(record: R): Promise<void> {
    this.assertOpen();
    const seq = toSeq(this.codec.seq(record));
    const payload = canonicalJson({ k: "record", record: this.codec.encode(record) });
    if (seq < this.tNextSeq && seq >= this.genesis.seq) {
      const queued = this.queuedRecords.get(seq);
      const existing = queued?.payload ?? this.existingPayload(seq);
      if (existing === payload) {
        if (queued) await queued.done;
        return;
      }
      throw journalError(
        "metering.journal.conflict",
        `Record ${seq} is already journaled with different content; a seq is never re-issued`,
        { seq },
      );
    }
    if (seq !== this.tNextSeq) {
      throw journalError(
        "metering.journal.outOfOrder",
        `Record seq ${seq} does not follow the journal (next seq is ${this.tNextSeq})`,
        { seq, nextSeq: this.tNextSeq },
      );
    }
    const prevHash = this.codec.prevHash(record);
    if (prevHash !== this.tHead) {
      throw journalError(
        "metering.journal.chainBroken",
        `Record ${seq} has prevHash ${prevHash} but the chain head is ${this.tHead}`,
        { seq, prevHash, head: this.tHead },
      );
    }
    this.tNextSeq = seq + 1;
    this.tHead = this.codec.hash(record);
    const done = this.enqueue(
      "record",
      payload,
      (entry) => {
        this.putRecord.run(seq, entry);
        this.commitRecord(record, seq);
      },
      () => {
        this.queuedRecords.delete(seq);
        this.changes.next({ type: "append", seq });
      },
    );
    this.queuedRecords.set(seq, { payload, done });
    return done;
  }

  async appendAck(
    target: number | { from: number; to: number },
    ledgerRef?: string,
  ): Promise<void> {
    this.assertOpen();
    const from = typeof target === "number" ? target : target.from;
    const to = typeof target === "number" ? target : target.to;
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      from > to ||
      from < this.genesis.seq ||
      to >= this.tNextSeq
    ) {
      throw journalError(
        "metering.journal.invalidAck",
        `Cannot acknowledge ${from}..${to}: the journal holds seqs ${this.genesis.seq}..${this.tNextSeq - 1}`,
        { from, to, nextSeq: this.tNextSeq },
      );
    }
    if (to <= this.archivedThrough() || this.acked.covers(from, to)) return;
    const entry: Record<string, unknown> = { k: "ack", from, to };
    if (ledgerRef !== undefined) entry.ledgerRef = ledgerRef;
    return this.enqueue(
      "ack",
      canonicalJson(entry as JsonValue),
      () => {
        this.acked.add(from, to);
      },
      () => {
        this.changes.next({ type: "ack", from, to });
      },
    );
  }

  private enqueue(
    kind: "record" | "ack",
    payload: string,
    apply: (entry: number) => void,
    after: () => void,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({
        kind,
        payload,
        commit: apply,
        resolve: () => {
          after();
          resolve();
        },
        reject,
      });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Appends issued in the same tick share one transaction and one fsync.
        setImmediate(() => {
          this.flushScheduled = false;
          this.flush();
        });
      }
    });
  }

  /** Commits every queued entry in one transaction (one fsync of the WAL). */
  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const before = {
      nextSeq: this.nextSeq,
      head: this.head,
      registers: new Map(this.registers),
      acked: new IntervalSet(this.acked.toJSON()),
    };
    try {
      if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
      this.store.transaction(() => {
        for (const p of batch) {
          const { index } = this.store.append(p.kind, p.payload);
          p.commit(index);
        }
        this.saveState();
      });
    } catch (err) {
      this.nextSeq = before.nextSeq;
      this.head = before.head;
      this.registers = before.registers;
      this.acked = before.acked;
      this.failBatch(batch, err);
      this.wakeIdle();
      return;
    }
    for (const p of batch) p.resolve();
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.queue.length > 0 || this.flushScheduled) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * A commit failed (SQLite rolled it back): reject the batch and every entry queued after
   * it (they continue a chain that now ends earlier); the state is as before the batch.
   */
  private failBatch(failed: Pending[], cause: unknown): void {
    const batch = [...failed, ...this.queue];
    this.queue = [];
    this.tNextSeq = this.nextSeq;
    this.tHead = this.head;
    this.queuedRecords.clear();
    const code = (cause as { code?: string })?.code;
    const err =
      code === "metering.journal.closed"
        ? cause
        : journalError(
            "metering.journal.writeFailed",
            `Writing to journal ${this.dir} failed: ${(cause as Error)?.message ?? String(cause)}`,
            { dir: this.dir, errno: sqliteCode(cause) },
            cause,
          );
    for (const p of batch) p.reject(err);
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushScheduled) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
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

  private archivedThrough(): number {
    return this.archive?.through ?? this.genesis.seq - 1;
  }

  async *unacknowledged(): AsyncIterable<R> {
    let seq = this.acked.contiguousFrom(this.archivedThrough()) + 1;
    for (;;) {
      this.assertOpen();
      while (seq < this.nextSeq && this.acked.has(seq)) seq++;
      if (seq >= this.nextSeq) return;
      yield this.readRecord(seq);
      seq++;
    }
  }

  async *read(fromSeq?: number): AsyncIterable<R> {
    let seq = Math.max(fromSeq ?? 0, this.archivedThrough() + 1);
    for (;;) {
      this.assertOpen();
      if (seq >= this.nextSeq) return;
      seq = Math.max(seq, this.archivedThrough() + 1);
      yield this.readRecord(seq);
      seq++;
    }
  }

  /** The payload of a live record, checked against its entry's hash. */
  private readPayload(seq: number): string {
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

  private readRecord(seq: number): R {
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
  private existingPayload(seq: number): string | undefined {
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

  async verify(): Promise<{ records: number }> {
    this.assertOpen();
    await this.drain();
    let prev: { seq: number; hash: string } | undefined;
    let records = 0;
    try {
      for (const e of this.store.entries()) {
        if (e.kind !== "record") continue;
        const record = this.codec.decode((JSON.parse(e.body) as { record: JsonValue }).record);
        const seq = toSeq(this.codec.seq(record));
        const expected = prev === undefined ? this.archivedThrough() + 1 : prev.seq + 1;
        const prevHash = prev?.hash ?? this.archive?.head ?? this.genesis.hash;
        if (seq !== expected || this.codec.prevHash(record) !== prevHash) {
          throw journalError(
            "metering.journal.corrupt",
            `Entry ${e.index} (record ${seq}) does not continue the chain`,
            {
              dir: this.dir,
              entry: e.index,
              seq,
            },
          );
        }
        prev = { seq, hash: this.codec.hash(record) };
        records++;
      }
    } catch (err) {
      throw fromStorage(err, this.dir);
    }
    if ((prev?.hash ?? this.archive?.head ?? this.genesis.hash) !== this.head) {
      throw journalError("metering.journal.corrupt", "The chain ends before the saved head", {
        dir: this.dir,
      });
    }
    return { records };
  }

  // ---- compaction --------------------------------------------------------------------

  async compact(options: { archiveDir: string }): Promise<CompactResult> {
    this.assertOpen();
    await this.drain();
    const archiveDir = path.resolve(options.archiveDir);
    const firstLive = this.archivedThrough() + 1;
    const through = Math.min(this.acked.contiguousFrom(firstLive - 1), this.nextSeq - 1);
    if (through < firstLive) return { archived: 0, archivedThrough: firstLive - 1 };

    if (!fs.existsSync(archiveDir)) {
      fs.mkdirSync(archiveDir, { recursive: true });
      fsyncDir(path.dirname(archiveDir));
    }
    // Temp files of an archive write that was interrupted before its rename.
    for (const name of fs.readdirSync(archiveDir)) {
      if (/^\.records-\d{12}-\d{12}\.jsonl\.\d+\.tmp$/.test(name)) {
        fs.rmSync(path.join(archiveDir, name), { force: true });
      }
    }
    // A compaction interrupted after its archive file was renamed into place must not
    // archive those records twice.
    const alreadyArchived = Math.max(
      firstLive - 1,
      ...listArchiveFiles(archiveDir).map((f) => f.to),
    );
    let file: string | undefined;
    const from = alreadyArchived + 1;
    if (from <= through) {
      const lines: string[] = [];
      for (let seq = from; seq <= through; seq++) {
        const entry = JSON.parse(this.readPayload(seq)) as { record: JsonValue };
        lines.push(canonicalJson(entry.record));
      }
      file = path.join(archiveDir, archiveFileName(from, through));
      writeFileAtomic(file, `${lines.join("\n")}\n`);
    }
    const throughEntry = (this.entryOf.get(through) as { idx: number } | undefined)?.idx;
    const newArchive = {
      through,
      head: this.codec.hash(this.readRecord(through)),
      dir: archiveDir,
    };
    const before = { acked: new IntervalSet(this.acked.toJSON()), archive: this.archive };
    try {
      this.store.transaction(() => {
        this.deleteRecords.run(through);
        if (throughEntry !== undefined) this.store.prune(throughEntry);
        this.acked.trimThrough(through);
        this.archive = newArchive;
        this.saveState();
      });
    } catch (err) {
      this.acked = before.acked;
      this.archive = before.archive;
      throw journalError(
        "metering.journal.writeFailed",
        `Compacting journal ${this.dir} failed; the journal is unchanged`,
        { dir: this.dir, errno: sqliteCode(err) },
        err,
      );
    }
    this.changes.next({ type: "compact", archivedThrough: through });
    return {
      archived: through - firstLive + 1,
      ...(file === undefined ? {} : { file }),
      archivedThrough: through,
    };
  }

  // ---- lifecycle ---------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    this.store.close();
    this.changes.complete();
  }

  private assertOpen(): void {
    if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
  }
}

function entryHashOf(row: { idx: number; kind: string; body: string; prev: string }): string {
  return entryHash(row.prev, row.idx, row.kind, row.body);
}

/** The SQLite result code of a failed write (e.g. `SQLITE_FULL`), or the errno. */
function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: string })?.code;
  const cause = (err as { cause?: { code?: string } })?.cause?.code;
  return cause ?? code;
}

/** Renames the file-based journal aside (never deleted). */
function renameAside(file: string): string {
  let target = `${file}.migrated`;
  for (let n = 1; fs.existsSync(target); n++) target = `${file}.migrated-${n}`;
  fs.renameSync(file, target);
  fsyncDir(path.dirname(file));
  return target;
}

function toSeq(seq: number | bigint): number {
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
