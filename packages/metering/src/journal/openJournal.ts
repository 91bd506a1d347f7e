import * as fs from "node:fs";
import * as path from "node:path";
import { type Observable, Subject } from "rxjs";
import { openStore, type Store } from "../storage/openStore.js";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { compactJournal, verifyJournal } from "./compactJournal.js";
import { journalError } from "./errors.js";
import { IntervalSet } from "./intervals.js";
import { type ChainEntry, chainEntryCodec, type JournalCodec } from "./journalCodec.js";
import { fromStorage, JournalCore, sqliteCode, toSeq } from "./journalCore.js";
import type {
  CompactResult,
  Journal,
  JournalChange,
  JournalFsyncMode,
  OpenJournalParameters,
} from "./journalTypes.js";

export {
  type CompactResult,
  type Journal,
  type JournalChange,
  type JournalFsyncMode,
  type JournalRecovery,
  type JournalState,
  type OpenJournalParameters,
  ZERO_HASH,
} from "./journalTypes.js";

interface Pending {
  kind: "record" | "ack";
  payload: string;
  commit(entry: number): void;
  resolve(): void;
  reject(err: unknown): void;
}

const DB_FILE = "journal.db";
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
    // "never": no fsync at all. Otherwise SQLite writes each commit's WAL frames without
    // syncing them (NORMAL), and the journal fsyncs the WAL itself in libuv's thread pool
    // before it acknowledges the commit — the durability of synchronous=FULL, while the
    // process goes on working (e.g. signing the next record).
    store.db.pragma(mode === "never" ? "synchronous = OFF" : "synchronous = NORMAL");
    return new JournalImpl<R>(
      dir,
      (params.codec ?? chainEntryCodec) as JournalCodec<R>,
      params.genesis,
      store,
      mode,
    );
  } catch (err) {
    store.close();
    throw fromStorage(err, dir);
  }
}

/** The journal's writer (queued appends, group commit, WAL fsync) over its committed state. */
class JournalImpl<R> extends JournalCore<R> implements Journal<R> {
  private readonly changes = new Subject<JournalChange>();
  readonly changes$: Observable<JournalChange> = this.changes.asObservable();

  // Tentative state: committed plus the appends waiting in `queue`.
  private tNextSeq: number;
  private tHead: string;
  private queue: Pending[] = [];
  private queuedRecords = new Map<number, { payload: string; done: Promise<void> }>();
  private flushScheduled = false;
  private idleWaiters: Array<() => void> = [];
  /** A committed batch's WAL fsync is in flight; later appends wait in `queue`. */
  private syncing = false;
  /** An fsync failed: committed but not durable, so nothing more is written until a reopen. */
  private failed: unknown;

  constructor(
    dir: string,
    codec: JournalCodec<R>,
    genesisOption: { seq: number; hash: string } | undefined,
    store: Store,
    mode: JournalFsyncMode = "always",
  ) {
    super(dir, codec, genesisOption, store, mode);
    this.tNextSeq = this.nextSeq;
    this.tHead = this.head;
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

  /**
   * Commits every queued entry in one transaction, then (unless `"never"`) fsyncs the WAL in
   * libuv's thread pool; the entries become visible (state, reads) and resolve only after
   * that. One batch is in flight at a time: appends issued meanwhile commit together after it.
   */
  private flush(): void {
    if (this.syncing || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    const before = {
      nextSeq: this.nextSeq,
      head: this.head,
      registers: new Map(this.registers),
      acked: new IntervalSet(this.acked.toJSON()),
    };
    const restore = (v: typeof before) => {
      this.nextSeq = v.nextSeq;
      this.head = v.head;
      this.registers = v.registers;
      this.acked = v.acked;
    };
    try {
      if (this.closed) throw journalError("metering.journal.closed", "Journal is closed");
      if (this.failed !== undefined) throw this.failed;
      this.store.transaction(() => {
        for (const p of batch) {
          const { index } = this.store.append(p.kind, p.payload);
          p.commit(index);
        }
        this.saveState();
      });
    } catch (err) {
      restore(before);
      this.failBatch(batch, err);
      this.wakeIdle();
      return;
    }
    const after = {
      nextSeq: this.nextSeq,
      head: this.head,
      registers: this.registers,
      acked: this.acked,
    };
    const durable = () => {
      restore(after);
      for (const p of batch) p.resolve();
      this.flush();
      this.wakeIdle();
    };
    if (this.mode === "never") {
      durable();
      return;
    }
    // Not durable yet: reads keep showing the state before the batch.
    restore(before);
    let fd: number;
    try {
      fd = this.wal();
    } catch (err) {
      this.syncFailed(batch, err);
      return;
    }
    this.syncing = true;
    fs.fdatasync(fd, (err) => {
      this.syncing = false;
      if (err) this.syncFailed(batch, err);
      else durable();
    });
  }
  /**
   * The WAL fsync failed: the batch is committed but may not survive a power loss. It is
   * rejected (not acknowledged), and the journal takes no more writes until it is reopened
   * (after a reopen the batch's entries may be there: an identical re-append is a no-op).
   */
  private syncFailed(batch: Pending[], cause: unknown): void {
    this.failed = journalError(
      "metering.journal.writeFailed",
      `Syncing journal ${this.dir} failed; reopen it: ${(cause as Error)?.message ?? String(cause)}`,
      { dir: this.dir, errno: (cause as NodeJS.ErrnoException)?.code },
      cause,
    );
    this.failBatch(batch, this.failed);
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.syncing || this.queue.length > 0 || this.flushScheduled) return;
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
      code === "metering.journal.closed" || cause === this.failed
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
    while (this.syncing || this.queue.length > 0 || this.flushScheduled) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
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
  async verify(): Promise<{ records: number }> {
    this.assertOpen();
    await this.drain();
    return verifyJournal(this);
  }

  // ---- compaction --------------------------------------------------------------------

  async compact(options: { archiveDir: string }): Promise<CompactResult> {
    this.assertOpen();
    await this.drain();
    const result = compactJournal(this, path.resolve(options.archiveDir));
    if (result.archived > 0) {
      this.changes.next({ type: "compact", archivedThrough: result.archivedThrough });
    }
    return result;
  }

  // ---- lifecycle ---------------------------------------------------------------------

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    this.closeWal();
    this.store.close();
    this.changes.complete();
  }
}
