import * as fs from "node:fs";
import * as path from "node:path";
import type { Decimal } from "decimal.js";
import { type Observable, Subject } from "rxjs";
import { dec } from "../quantity.js";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { type JournalError, journalError } from "./errors.js";
import { decodeFrame, encodeFrame, findValidFrameAfter } from "./frame.js";
import { fsyncDir, writeFileAtomic, writeFully } from "./fsUtil.js";
import { IntervalSet } from "./intervals.js";
import { type ChainEntry, chainEntryCodec, type JournalCodec } from "./journalCodec.js";
import { acquireLock, type HeldLock } from "./lockFile.js";
import { archiveFileName, listArchiveFiles } from "./readArchive.js";

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
   * - `"always"` (default): every append is written and fsynced before it resolves. The
   *   fsync runs off the main thread; appends issued while one is in flight are written
   *   together after it and share the next fsync (group commit).
   * - `"batch"`: group commit — appends issued in the same tick (or while an fsync is in
   *   flight) share one write and one fsync; each still resolves only after that fsync.
   * - `"never"`: written to the OS before resolving, never fsynced: survives a process
   *   crash, not a power loss.
   */
  fsync?: JournalFsyncMode;
  /**
   * Where the chain starts, used only when the journal is created: the first `seq` and the
   * `prevHash` the first record must carry. Default `{ seq: 0, hash: ZERO_HASH }`. When
   * given for an existing journal it must match what the journal was created with.
   */
  genesis?: { seq: number; hash: string };
}

/** What the journal knows, recovered at open by replaying its entries. */
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

/** What `openJournal` had to repair. */
export interface JournalRecovery {
  /** A torn tail was cut off (a crash interrupted the last write). */
  tornTail?: { offset: number; length: number; reason: string; quarantineFile: string };
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
  /** Flushes pending entries, closes the file and releases the lock. */
  close(): Promise<void>;
}

interface Checkpoint {
  k: "checkpoint";
  v: 1;
  genesis: { seq: number; hash: string };
  nextSeq: number;
  head: string;
  registers: Record<string, string>;
  acked: Array<[number, number]>;
  archive: { through: number; head: string; dir: string } | null;
}

interface Pending {
  frame: Buffer;
  commit(payloadPos: number): void;
  resolve(): void;
  reject(err: unknown): void;
}

interface IndexEntry {
  /** File offset of the entry's payload. */
  pos: number;
  len: number;
  hash: string;
}

const JOURNAL_FILE = "journal.log";

/**
 * Opens (or creates) the journal in `dir`: takes the single-writer lock, replays the
 * entries, cuts a torn tail (a copy goes to `quarantine/`), and refuses damage in the
 * middle with `metering.journal.corrupt`.
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
  const lock = acquireLock(dir);
  try {
    return new JournalImpl<R>(
      dir,
      (params.codec ?? chainEntryCodec) as JournalCodec<R>,
      mode,
      params.genesis,
      lock,
    );
  } catch (err) {
    lock.release();
    throw err;
  }
}

class JournalImpl<R> implements Journal<R> {
  readonly recovery: JournalRecovery = {};
  private readonly changes = new Subject<JournalChange>();
  readonly changes$: Observable<JournalChange> = this.changes.asObservable();
  private readonly file: string;
  private fd: number;
  private size = 0;
  /** The file may hold bytes past `size` from a failed write that could not be cut. */
  private dirty = false;
  private closed = false;

  // Committed (durable) state.
  private genesis: { seq: number; hash: string };
  private nextSeq: number;
  private head: string;
  private registers = new Map<string, string>();
  private acked = new IntervalSet();
  private archive: Checkpoint["archive"] = null;
  private index = new Map<number, IndexEntry>();

  // Tentative state: committed plus the appends waiting in `queue`.
  private tNextSeq: number;
  private tHead: string;
  private queue: Pending[] = [];
  private queuedRecords = new Map<number, { payload: Buffer; done: Promise<void> }>();
  private flushScheduled = false;
  /** A written batch is being fsynced (off the main thread); later appends wait in `queue`. */
  private syncing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly dir: string,
    readonly codec: JournalCodec<R>,
    private readonly mode: JournalFsyncMode,
    genesisOption: { seq: number; hash: string } | undefined,
    private readonly lock: HeldLock,
  ) {
    this.file = path.join(dir, JOURNAL_FILE);
    this.genesis = genesisOption ?? { seq: 0, hash: ZERO_HASH };
    this.nextSeq = this.genesis.seq;
    this.head = this.genesis.hash;
    this.removeStaleTemps();
    let buf: Buffer = fs.existsSync(this.file) ? fs.readFileSync(this.file) : Buffer.alloc(0);
    if (buf.length === 0) {
      buf = encodeFrame(Buffer.from(canonicalJson(this.checkpoint())));
      writeFileAtomic(this.file, buf);
    }
    let { entries, end } = this.scan(buf);
    if (entries.length === 0) {
      // Only a torn first entry was there (it is quarantined): start afresh.
      buf = encodeFrame(Buffer.from(canonicalJson(this.checkpoint())));
      writeFileAtomic(this.file, buf);
      entries = [{ offset: 0, payload: buf.subarray(8, buf.length - 4) }];
      end = buf.length;
    }
    this.replay(entries, genesisOption);
    this.fd = fs.openSync(this.file, "r+");
    this.size = end;
    this.tNextSeq = this.nextSeq;
    this.tHead = this.head;
  }

  // ---- open: scan, torn tail, replay -------------------------------------------------

  private scan(buf: Buffer): { entries: Array<{ offset: number; payload: Buffer }>; end: number } {
    const entries: Array<{ offset: number; payload: Buffer }> = [];
    let offset = 0;
    while (offset < buf.length) {
      const r = decodeFrame(buf, offset);
      if (r.ok) {
        entries.push({ offset, payload: r.payload });
        offset = r.end;
        continue;
      }
      const next = findValidFrameAfter(buf, offset + 1);
      if (next !== -1) {
        throw journalError(
          "metering.journal.corrupt",
          `Journal ${this.file} is damaged at byte ${offset} (${r.reason}) with intact entries after it at byte ${next}; refusing to cut them off`,
          { file: this.file, offset, reason: r.reason, nextValidOffset: next },
        );
      }
      this.quarantineTail(buf, offset, r.reason);
      break;
    }
    return { entries, end: offset };
  }

  private quarantineTail(buf: Buffer, offset: number, reason: string): void {
    const qdir = path.join(this.dir, "quarantine");
    fs.mkdirSync(qdir, { recursive: true });
    const at = new Date().toISOString();
    const name = `torn-${at.replace(/[:.]/g, "-")}-offset-${offset}.json`;
    const quarantineFile = path.join(qdir, name);
    const length = buf.length - offset;
    writeFileAtomic(
      quarantineFile,
      `${JSON.stringify({
        reason: `torn tail: ${reason} (an interrupted write; the entry was never acknowledged as durable)`,
        file: JOURNAL_FILE,
        offset,
        length,
        at,
        bytesBase64: buf.subarray(offset).toString("base64"),
      })}\n`,
    );
    fsyncDir(this.dir);
    const fd = fs.openSync(this.file, "r+");
    try {
      fs.ftruncateSync(fd, offset);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.recovery.tornTail = { offset, length, reason, quarantineFile };
  }

  private replay(
    entries: Array<{ offset: number; payload: Buffer }>,
    genesisOption: { seq: number; hash: string } | undefined,
  ): void {
    entries.forEach(({ offset, payload }, i) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(payload.toString("utf8"));
      } catch (err) {
        throw this.corrupt(offset, "entry is not JSON", err);
      }
      if (i === 0) {
        if (entry.k !== "checkpoint")
          throw this.corrupt(offset, "journal does not start with a checkpoint");
        this.applyCheckpoint(entry as unknown as Checkpoint, genesisOption);
        return;
      }
      if (entry.k === "record") {
        let record: R;
        try {
          record = this.codec.decode(entry.record as JsonValue);
        } catch (err) {
          throw this.corrupt(offset, "record does not decode", err);
        }
        const seq = toSeq(this.codec.seq(record));
        if (seq !== this.nextSeq || this.codec.prevHash(record) !== this.head) {
          throw this.corrupt(offset, `record ${seq} does not continue the chain`, undefined, {
            expectedSeq: this.nextSeq,
            expectedPrevHash: this.head,
          });
        }
        this.commitRecord(record, seq, offset + 8, payload.length);
      } else if (entry.k === "ack") {
        const from = entry.from as number;
        const to = entry.to as number;
        if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to >= this.nextSeq) {
          throw this.corrupt(offset, "acknowledgement of records not in the journal");
        }
        this.acked.add(from, to);
      } else {
        throw this.corrupt(offset, `unexpected entry kind ${String(entry.k)}`);
      }
    });
  }

  private applyCheckpoint(
    cp: Checkpoint,
    genesisOption: { seq: number; hash: string } | undefined,
  ): void {
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
    this.genesis = cp.genesis;
    this.nextSeq = cp.nextSeq;
    this.head = cp.head;
    this.registers = new Map(Object.entries(cp.registers));
    this.acked = new IntervalSet(cp.acked);
    this.archive = cp.archive;
  }

  private checkpoint(): Checkpoint {
    return {
      k: "checkpoint",
      v: 1,
      genesis: this.genesis,
      nextSeq: this.nextSeq,
      head: this.head,
      registers: Object.fromEntries([...this.registers].sort(([a], [b]) => (a < b ? -1 : 1))),
      acked: this.acked.toJSON(),
      archive: this.archive,
    };
  }

  private corrupt(
    offset: number,
    reason: string,
    cause?: unknown,
    extra: Record<string, unknown> = {},
  ): JournalError {
    return journalError(
      "metering.journal.corrupt",
      `Journal ${this.file} is corrupt at byte ${offset}: ${reason}`,
      { file: this.file, offset, reason, ...extra },
      cause,
    );
  }

  private removeStaleTemps(): void {
    // Temp files of an interrupted atomic write: the rename never happened, so the data
    // they hold is still in the real file.
    for (const name of fs.readdirSync(this.dir)) {
      if (/^\.journal\.log\.\d+\.tmp$/.test(name)) fs.rmSync(path.join(this.dir, name));
    }
  }

  private commitRecord(record: R, seq: number, pos: number, len: number): void {
    const hash = this.codec.hash(record);
    this.index.set(seq, { pos, len, hash });
    this.nextSeq = seq + 1;
    this.head = hash;
    const regs = this.codec.registers?.(record);
    if (regs)
      for (const [channel, value] of Object.entries(regs)) this.registers.set(channel, value);
  }

  // ---- writing ------------------------------------------------------------------------

  async append(record: R): Promise<void> {
    this.assertOpen();
    const seq = toSeq(this.codec.seq(record));
    const payload = Buffer.from(canonicalJson({ k: "record", record: this.codec.encode(record) }));
    if (seq < this.tNextSeq && seq >= this.genesis.seq) {
      const queued = this.queuedRecords.get(seq);
      const existing = queued?.payload ?? this.existingPayload(seq);
      if (existing?.equals(payload)) {
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
    const done = this.enqueue(encodeFrame(payload), (pos) => {
      this.commitRecord(record, seq, pos, payload.length);
      this.queuedRecords.delete(seq);
      this.changes.next({ type: "append", seq });
    });
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
    return this.enqueue(encodeFrame(Buffer.from(canonicalJson(entry))), () => {
      this.acked.add(from, to);
      this.changes.next({ type: "ack", from, to });
    });
  }

  private enqueue(frame: Buffer, commit: (payloadPos: number) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ frame, commit, resolve, reject });
      if (this.mode === "batch") {
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => {
            this.flushScheduled = false;
            this.flush();
          });
        }
      } else {
        this.flush();
      }
    });
  }

  /**
   * Writes every queued entry with one write, then (unless `"never"`) fdatasyncs it in the
   * thread pool, so the caller can prepare the next entries meanwhile (e.g. sign the next
   * record); entries commit in order once durable. At most one batch is in flight: entries
   * queued meanwhile go out together after it.
   */
  private flush(): void {
    if (this.syncing || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const buf = batch.length === 1 ? batch[0]!.frame : Buffer.concat(batch.map((p) => p.frame));
    try {
      if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
      if (this.dirty) {
        fs.ftruncateSync(this.fd, this.size);
        this.dirty = false;
      }
      writeFully(this.fd, buf, this.size);
    } catch (err) {
      this.failBatch(batch, err);
      return;
    }
    if (this.mode === "never") {
      this.commitBatch(batch, buf.length);
      return;
    }
    this.syncing = true;
    fs.fdatasync(this.fd, (err) => {
      this.syncing = false;
      if (err) this.failBatch(batch, err);
      else this.commitBatch(batch, buf.length);
      this.flush();
      if (!this.syncing) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }

  private commitBatch(batch: Pending[], length: number): void {
    let pos = this.size;
    this.size += length;
    for (const p of batch) {
      p.commit(pos + 8);
      pos += p.frame.length;
      p.resolve();
    }
  }

  /**
   * A write or fsync failed: cut the file back to its last durable entry and reject the
   * batch and every entry queued after it (they continue a chain that now ends earlier).
   */
  private failBatch(failed: Pending[], cause: unknown): void {
    const batch = [...failed, ...this.queue];
    this.queue = [];
    if (!this.closed) {
      try {
        // Cut the partial bytes so the file ends at the last complete entry again.
        fs.ftruncateSync(this.fd, this.size);
        fs.fsyncSync(this.fd);
      } catch {
        this.dirty = true; // retried before the next write
      }
    }
    this.tNextSeq = this.nextSeq;
    this.tHead = this.head;
    this.queuedRecords.clear();
    const err =
      cause instanceof Error && (cause as { code?: string }).code === "metering.journal.closed"
        ? cause
        : journalError(
            "metering.journal.writeFailed",
            `Writing to journal ${this.file} failed: ${(cause as Error)?.message ?? String(cause)}`,
            { file: this.file, errno: (cause as NodeJS.ErrnoException)?.code },
            cause,
          );
    for (const p of batch) p.reject(err);
  }

  private async drain(): Promise<void> {
    while (this.syncing || this.queue.length > 0) {
      if (this.syncing) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else this.flush();
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
    return this.codec.decode(
      (JSON.parse(payload.toString("utf8")) as { record: JsonValue }).record,
    );
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

  private readPayload(seq: number): Buffer {
    const at = this.index.get(seq);
    if (at === undefined) {
      throw journalError("metering.journal.corrupt", `Record ${seq} is not in the live journal`, {
        seq,
      });
    }
    const buf = Buffer.allocUnsafe(at.len);
    let off = 0;
    while (off < at.len) {
      const n = fs.readSync(this.fd, buf, off, at.len - off, at.pos + off);
      if (n === 0) throw this.corrupt(at.pos, `record ${seq} is cut short`);
      off += n;
    }
    return buf;
  }

  private readRecord(seq: number): R {
    const entry = JSON.parse(this.readPayload(seq).toString("utf8")) as { record: JsonValue };
    return this.codec.decode(entry.record);
  }

  /** Payload bytes of an already committed record (live journal or archive). */
  private existingPayload(seq: number): Buffer | undefined {
    if (seq > this.archivedThrough()) return this.readPayload(seq);
    const archive = this.archive;
    if (archive === null) return undefined;
    for (const f of listArchiveFiles(archive.dir)) {
      if (seq < f.from || seq > f.to) continue;
      const lines = fs.readFileSync(path.join(archive.dir, f.name), "utf8").split("\n");
      const line = lines[seq - f.from];
      if (line === undefined) return undefined;
      return Buffer.from(`{"k":"record","record":${line}}`);
    }
    return undefined;
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
        const entry = JSON.parse(this.readPayload(seq).toString("utf8")) as { record: JsonValue };
        lines.push(canonicalJson(entry.record));
      }
      file = path.join(archiveDir, archiveFileName(from, through));
      writeFileAtomic(file, `${lines.join("\n")}\n`);
    }

    // Rewrite the journal: a checkpoint that carries everything the archived entries
    // told, then the live records' payloads byte for byte.
    const newArchive = { through, head: this.index.get(through)!.hash, dir: archiveDir };
    const newAcked = new IntervalSet(this.acked.toJSON());
    newAcked.trimThrough(through);
    // The checkpoint describes the chain just before the first live record, which replay
    // then re-applies (registers: the live records' values win either way).
    const cp: Checkpoint = {
      ...this.checkpoint(),
      nextSeq: through + 1,
      head: newArchive.head,
      acked: newAcked.toJSON(),
      archive: newArchive,
    };
    const frames: Buffer[] = [encodeFrame(Buffer.from(canonicalJson(cp)))];
    const newIndex = new Map<number, IndexEntry>();
    let pos = frames[0]!.length;
    for (let seq = through + 1; seq < this.nextSeq; seq++) {
      const payload = this.readPayload(seq);
      frames.push(encodeFrame(payload));
      newIndex.set(seq, { pos: pos + 8, len: payload.length, hash: this.index.get(seq)!.hash });
      pos += payload.length + 12;
    }
    const buf = Buffer.concat(frames);
    try {
      writeFileAtomic(this.file, buf);
    } catch (err) {
      throw journalError(
        "metering.journal.writeFailed",
        `Compacting journal ${this.file} failed; the journal is unchanged`,
        { file: this.file, errno: (err as NodeJS.ErrnoException)?.code },
        err,
      );
    }
    fs.closeSync(this.fd);
    this.fd = fs.openSync(this.file, "r+");
    this.size = buf.length;
    this.dirty = false;
    this.index = newIndex;
    this.acked = newAcked;
    this.archive = newArchive;
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
    fs.closeSync(this.fd);
    this.lock.release();
    this.changes.complete();
  }

  private assertOpen(): void {
    if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
  }
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
