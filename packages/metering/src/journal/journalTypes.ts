import type { Decimal } from "decimal.js";
import type { Observable } from "rxjs";
import type { ChainEntry, JournalCodec } from "./journalCodec.js";
/** When the journal calls fsync on appended entries. */
export type JournalFsyncMode = "always" | "batch" | "never";

/** The 32-byte zero hash: the `prevHash` of the first record of a fresh chain. */
/** What the journal saves with every change (the `state` metadata row). @internal */
export interface SavedState {
  v: 1;
  genesis: { seq: number; hash: string };
  nextSeq: number;
  head: string;
  registers: Record<string, string>;
  acked: Array<[number, number]>;
  archive: { through: number; head: string; dir: string } | null;
}

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
