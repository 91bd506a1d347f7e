import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  decimalToString,
  encodeMeterRecord,
  isMaaskitError,
  meterRecordFromJson,
  meterRecordToJson,
  type PeriodStatement,
  periodStatementToJson,
  toDecimal,
} from "@maaskit/metering";
import { openStore, type Store } from "@maaskit/metering/storage";
import type { Decimal } from "decimal.js";
import { from, Observable, Subject, switchMap } from "rxjs";
import { type Agreement, agreementToJson } from "../../agreement.js";
import type { Invoice } from "../../invoice.js";
import type {
  AgreementState,
  FundsResult,
  LedgerBackend,
  LedgerClock,
  OpenAgreementResult,
  OpenWorkOrderResult,
  SubmitRecordsResult,
  WorkOrder,
} from "../../ledger.js";
import { isLedgerError, type LedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { recordsToJson } from "../../recordsToJson.js";
import {
  type AcceptedRecord,
  type AcceptedRecords,
  type Command,
  LedgerCore,
  type Outcome,
  workOrderTermsToJson,
} from "../../rules/index.js";
import { readLegacyLog } from "./appendLog.js";
import { decodeState, encodeState } from "./stateCodec.js";

/** Options of `embeddedLedger`. */
export interface EmbeddedLedgerParameters {
  /** Directory of the ledger (created if missing); one ledger per directory, one writer. */
  readonly dir: string;
  /** Time source; default the system clock. */
  readonly clock?: LedgerClock;
  /**
   * How much of the hash chain is re-checked at open: `"tail"` (default; open time does
   * not grow with the history) or `"full"` (every entry). `verify()` checks it all any time.
   */
  readonly verifyOnOpen?: "tail" | "full";
}

/** What opening the ledger had to recover (reported, never silent). */
export interface EmbeddedLedgerRecovery {
  /** A torn last write of a file-based (pre-SQLite) log, copied aside before migrating. */
  readonly tornTail?: { readonly file: string; readonly bytes: number };
  /** The file-based log this directory was migrated from, kept under a new name. */
  readonly migratedFrom?: { readonly file: string; readonly entries: number };
}

/** The embedded ledger: a `LedgerBackend` plus `ready`, which settles once the store is open. */
export interface EmbeddedLedger extends LedgerBackend {
  readonly kind: "embedded";
  /** Resolves when the store is open (rejects with `settlement.ledger.corrupt`/`.locked`). */
  readonly ready: Promise<void>;
  /** Bytes of a torn last write cut off a legacy log at migration (copied aside first). */
  readonly recoveredBytes: () => number;
  /** What opening recovered or migrated; `{}` after a clean open. */
  readonly recovery: () => EmbeddedLedgerRecovery;
  /**
   * Re-hashes the whole chain and replays every command through the rules, comparing the
   * result with the saved state: `settlement.ledger.corrupt` (with the entry index) when
   * anything differs.
   */
  readonly verify: () => Promise<{ entries: number; head: string }>;
}

/** One chain entry: the command, the instant it was applied at, and the saved state it left. */
interface LogEntry {
  v: 1;
  at: string;
  cmd: Command;
  /** sha256 of each saved state row this command left (`agreement:<id>`, `workOrder:<id>`). */
  state?: Record<string, string>;
}

interface Pending {
  cmd: Command;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

const KIND = "settlement.embeddedLedger/1";
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS agreements (id TEXT PRIMARY KEY, entry INTEGER NOT NULL, state TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS work_orders (id TEXT PRIMARY KEY, entry INTEGER NOT NULL, state TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS records (
     agreement TEXT NOT NULL, seq INTEGER NOT NULL, period_start INTEGER NOT NULL,
     period_end INTEGER NOT NULL, digest TEXT NOT NULL, record TEXT NOT NULL,
     PRIMARY KEY (agreement, seq)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS records_period ON records (agreement, period_start)`,
  `CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, entry INTEGER NOT NULL, body TEXT NOT NULL)`,
];

/**
 * The default ledger backend: no server, one SQLite database `ledger.db` in `dir` (WAL,
 * `synchronous=FULL`, an exclusive OS lock held while open). Every accepted command — with
 * its idempotency key (agreement + seq, deposit reference, work-order id) inside — is ONE
 * hash-chained entry, committed together with the state it leaves (balances, heads,
 * invoices, accepted records, events) before the call resolves, so a crash or power loss
 * at any instant neither loses an acknowledged command nor applies one twice, and opening
 * reads the saved state instead of replaying the history. Commands arriving together share
 * one transaction and one fsync (group commit). A directory written by the file-based
 * ledger (`ledger.log`) is migrated at first open and the old file kept, renamed.
 *
 * @example
 * ```ts
 * const ledger = embeddedLedger({ dir: "./var/ledger" })
 * await ledger.openAgreement(agreement)
 * await ledger.submitRecords({ agreementId: agreement.agreementId, records })
 * ```
 */
export function embeddedLedger(params: EmbeddedLedgerParameters): EmbeddedLedger {
  const clock = params.clock ?? { now: () => new Date() };
  const live = new Subject<LedgerEvent>();
  let store: Store | undefined;
  let core: LedgerCore | undefined;
  let recovery: EmbeddedLedgerRecovery = {};
  let failure: unknown;
  let closed = false;
  let queue: Pending[] = [];
  let draining = false;
  let idle: Promise<void> = Promise.resolve();
  let markIdle: () => void = () => {};

  const ready = (async () => {
    mkdirSync(params.dir, { recursive: true });
    try {
      store = openStore({
        file: join(params.dir, "ledger.db"),
        kind: KIND,
        schema: SCHEMA,
        verify: params.verifyOnOpen ?? "tail",
      });
    } catch (err) {
      throw fromStorage(err, params.dir);
    }
    try {
      core = new LedgerCore(undefined, sqliteRecords(store));
      recovery = migrateLegacy(store, core, params.dir);
      restore(store, core);
    } catch (err) {
      store.close();
      throw fromStorage(err, params.dir);
    }
  })();
  // Callers see the failure through every call; do not crash on an unobserved rejection.
  ready.catch(() => {});

  function run<T>(command: Command | (() => Command)): Promise<T> {
    return ready.then(
      () =>
        new Promise<T>((resolve, reject) => {
          let cmd: Command;
          try {
            cmd = typeof command === "function" ? command() : command;
          } catch (err) {
            reject(err);
            return;
          }
          if (closed) {
            reject(
              ledgerError("settlement.ledger.closed", "The ledger is closed", { dir: params.dir }),
            );
            return;
          }
          if (failure !== undefined) {
            reject(
              ledgerError(
                "settlement.ledger.unavailable",
                "The ledger failed to write; reopen it",
                { dir: params.dir },
                failure,
              ),
            );
            return;
          }
          queue.push({ cmd, resolve: resolve as (v: unknown) => void, reject });
          if (!draining) {
            draining = true;
            idle = new Promise((r) => {
              markIdle = r;
            });
            // Let commands issued in the same tick join one transaction and one fsync.
            setImmediate(drain);
          }
        }),
    );
  }

  function drain(): void {
    const batch = queue;
    queue = [];
    const applied: { p: Pending; out: Outcome }[] = [];
    const s = store!;
    const c = core!;
    try {
      s.transaction(() => {
        for (const p of batch) {
          const at = clock.now();
          let out: Outcome;
          try {
            out = c.execute(p.cmd, at, false);
          } catch (err) {
            // A failed write or a damaged row may leave the rules half-applied: abort all.
            const code = String((err as { code?: string })?.code ?? "");
            if (/^(SQLITE_|metering\.storage\.|settlement\.ledger\.corrupt)/.test(code)) throw err;
            p.reject(err);
            continue;
          }
          if (out.changed) commit(s, c, p.cmd, at, out);
          applied.push({ p, out });
        }
      });
    } catch (err) {
      // Memory is now ahead of the disk: refuse everything until the ledger is reopened.
      failure = err;
      const reason = ledgerError(
        "settlement.ledger.unavailable",
        "The ledger could not be written",
        { dir: params.dir },
        err,
      );
      for (const { p } of applied) p.reject(reason);
      for (const p of batch) p.reject(reason);
      finish();
      return;
    }
    for (const { p, out } of applied) {
      p.resolve(out.result);
      for (const e of out.events) live.next(e);
    }
    finish();
  }

  function finish(): void {
    if (queue.length > 0) {
      setImmediate(drain);
      return;
    }
    draining = false;
    markIdle();
  }

  async function read<T>(fn: (c: LedgerCore, s: Store) => T): Promise<T> {
    await ready;
    if (closed)
      throw ledgerError("settlement.ledger.closed", "The ledger is closed", { dir: params.dir });
    try {
      return fn(core!, store!);
    } catch (err) {
      throw fromStorage(err, params.dir);
    }
  }

  const events$ = from(ready).pipe(
    switchMap(
      () =>
        new Observable<LedgerEvent>((subscriber) => {
          // Reading the table and subscribing happen in one tick: no event falls between them.
          for (const e of allEvents(store!)) subscriber.next(e);
          return live.subscribe(subscriber);
        }),
    ),
  );

  return {
    kind: "embedded",
    ready,
    recoveredBytes: () => recovery.tornTail?.bytes ?? 0,
    recovery: () => recovery,
    verify: () => read((c, s) => verifyAll(s, c, params.dir)),
    events$,

    openAgreement: (agreement: Agreement, options?: { by?: string }) =>
      run<OpenAgreementResult>(() => ({
        t: "openAgreement",
        agreement: agreementToJson(agreement),
        by: options?.by ?? agreement.parties.provider,
      })),

    acceptAgreement: ({ agreementId, by }) =>
      run<AgreementState>({ t: "acceptAgreement", agreementId, by }),

    revokeSigner: ({ agreementId, signer, by }) =>
      run<AgreementState>({ t: "revokeSigner", agreementId, signer, by }),

    submitRecords: ({ agreementId, records }) =>
      run<SubmitRecordsResult>(() => ({
        t: "submitRecords",
        agreementId,
        records: recordsToJson(records),
      })),

    settlePeriod: ({ agreementId, period }) =>
      run<Invoice>({
        t: "settlePeriod",
        agreementId,
        start: period.start.toISOString(),
        end: period.end.toISOString(),
      }),

    settleStatement: (statement: PeriodStatement) =>
      run<Invoice>(() => ({ t: "settleStatement", statement: periodStatementToJson(statement) })),

    deposit: ({ agreementId, amount, by, reference }) =>
      run<FundsResult>(() => ({
        t: "deposit",
        agreementId,
        amount: amountString(amount),
        by,
        ...(reference === undefined ? {} : { reference }),
      })),

    withdraw: ({ agreementId, amount, by, reference }) =>
      run<FundsResult>(() => ({
        t: "withdraw",
        agreementId,
        amount: amountString(amount),
        by,
        ...(reference === undefined ? {} : { reference }),
      })),

    getAgreement: (agreementId) => read((c) => c.agreementState(agreementId)),
    getBalance: (agreementId) => read((c) => c.balance(agreementId)),
    getInvoices: (agreementId) => read((c) => c.invoices(agreementId)),
    getRecordsHead: (agreementId) => read((c) => c.head(agreementId)),
    getEvents: () => read((_c, s) => allEvents(s)),

    openWorkOrder: (terms) =>
      run<OpenWorkOrderResult>(() => ({ t: "openWorkOrder", terms: workOrderTermsToJson(terms) })),
    fundWorkOrder: ({ workOrderId, by }) => run<WorkOrder>({ t: "fundWorkOrder", workOrderId, by }),
    acceptWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "acceptWorkOrder", workOrderId, by }),
    completeWorkOrder: ({ workOrderId, proofHash, by }) =>
      run<WorkOrder>({ t: "completeWorkOrder", workOrderId, proofHash, by }),
    confirmWorkOrder: (p) =>
      run<WorkOrder>(
        "attestation" in p
          ? {
              t: "confirmWorkOrder",
              workOrderId: p.workOrderId,
              evidenceHash: p.attestation.evidenceHash,
              clearedAt: p.attestation.clearedAt.toISOString(),
              signature: p.attestation.signature,
            }
          : {
              t: "confirmWorkOrder",
              workOrderId: p.workOrderId,
              by: p.by,
              ...(p.evidenceHash === undefined ? {} : { evidenceHash: p.evidenceHash }),
            },
      ),
    cancelWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "cancelWorkOrder", workOrderId, by }),
    disputeWorkOrder: ({ workOrderId, reasonHash, by }) =>
      run<WorkOrder>({ t: "disputeWorkOrder", workOrderId, reasonHash, by }),
    resolveDispute: ({ workOrderId, toProvider, by }) =>
      run<WorkOrder>(() => ({
        t: "resolveDispute",
        workOrderId,
        toProvider: amountString(toProvider),
        by,
      })),
    expireWorkOrder: ({ workOrderId, by }) =>
      run<WorkOrder>({ t: "expireWorkOrder", workOrderId, by }),
    getWorkOrder: (workOrderId) => read((c) => c.workOrder(workOrderId)),

    async close() {
      try {
        await ready;
      } catch {
        return;
      }
      if (closed) return;
      await idle;
      closed = true;
      store?.close();
      live.complete();
    },
  };
}

// ─────────────────────────────── storage ───────────────────────────────

/** The agreements and work orders a command changes (every one when it cannot tell). */
function touched(cmd: Command, c: LedgerCore): Array<["agreement" | "workOrder", string]> {
  const j = cmd as unknown as Record<string, Record<string, unknown> | string | undefined>;
  const agreementId =
    typeof j.agreementId === "string"
      ? j.agreementId
      : ((j.agreement as Record<string, unknown> | undefined)?.agreementId ??
        (j.statement as Record<string, unknown> | undefined)?.agreementId);
  const workOrderId =
    typeof j.workOrderId === "string"
      ? j.workOrderId
      : (j.terms as Record<string, unknown> | undefined)?.workOrderId;
  const out: Array<["agreement" | "workOrder", string]> = [];
  if (typeof agreementId === "string" && c.agreements.has(agreementId)) {
    out.push(["agreement", agreementId]);
  }
  if (typeof workOrderId === "string" && c.workOrders.has(workOrderId)) {
    out.push(["workOrder", workOrderId]);
  }
  if (out.length > 0) return out;
  return [
    ...[...c.agreements.keys()].map((id) => ["agreement", id] as ["agreement", string]),
    ...[...c.workOrders.keys()].map((id) => ["workOrder", id] as ["workOrder", string]),
  ];
}

function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

const prepared = new WeakMap<Store, ReturnType<typeof prepare>>();

function prepare(s: Store) {
  return {
    agreement: s.db.prepare(
      "INSERT INTO agreements (id, entry, state) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET entry = excluded.entry, state = excluded.state",
    ),
    workOrder: s.db.prepare(
      "INSERT INTO work_orders (id, entry, state) VALUES (?,?,?) ON CONFLICT(id) DO UPDATE SET entry = excluded.entry, state = excluded.state",
    ),
    event: s.db.prepare("INSERT INTO events (entry, body) VALUES (?, ?)"),
  };
}

/** The write statements of a store, prepared once. */
function statements(s: Store): ReturnType<typeof prepare> {
  let p = prepared.get(s);
  if (p === undefined) {
    p = prepare(s);
    prepared.set(s, p);
  }
  return p;
}

/** Writes one applied command: its chain entry, the state it left and its events. */
function commit(s: Store, c: LedgerCore, cmd: Command, at: Date, out: Outcome): void {
  const rows = touched(cmd, c).map(([kind, id]) => {
    const text = encodeState(c.saveState(kind, id));
    return { kind, id, text };
  });
  const state: Record<string, string> = {};
  for (const r of rows) state[`${r.kind}:${r.id}`] = sha256(r.text);
  const entry: LogEntry = { v: 1, at: at.toISOString(), cmd, state };
  const { index } = s.append("command", JSON.stringify(entry));
  const put = statements(s);
  for (const r of rows) put[r.kind].run(r.id, index, r.text);
  const ev = put.event;
  for (const e of out.events) ev.run(index, JSON.stringify(e));
}

/**
 * Restores the saved state. Each state row must hash to what the chain entry that last
 * wrote it recorded, so a row edited behind the ledger's back is refused.
 */
function restore(s: Store, c: LedgerCore): void {
  const entryAt = s.db.prepare("SELECT body FROM chain WHERE idx = ?").pluck();
  const check = (kind: string, id: string, entry: number, text: string) => {
    const body = entryAt.get(entry) as string | undefined;
    let recorded: string | undefined;
    try {
      recorded = (JSON.parse(body ?? "null") as LogEntry | null)?.state?.[`${kind}:${id}`];
    } catch {
      recorded = undefined;
    }
    if (recorded !== sha256(text)) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of ${kind} ${id} is not the one entry ${entry} left`,
        { entry, [kind === "agreement" ? "agreementId" : "workOrderId"]: id },
      );
    }
  };
  for (const row of s.db.prepare("SELECT id, entry, state FROM agreements").iterate() as Iterable<{
    id: string;
    entry: number;
    state: string;
  }>) {
    check("agreement", row.id, row.entry, row.state);
    c.restoreState("agreement", decodeState(row.state));
  }
  for (const row of s.db.prepare("SELECT id, entry, state FROM work_orders").iterate() as Iterable<{
    id: string;
    entry: number;
    state: string;
  }>) {
    check("workOrder", row.id, row.entry, row.state);
    c.restoreState("workOrder", decodeState(row.state));
  }
}

/**
 * Accepted records in the `records` table. A row read back must still encode to its
 * digest and chain to its neighbours, so an edited record is refused, not billed.
 */
function sqliteRecords(s: Store): (agreementId: string) => AcceptedRecords {
  const one = s.db.prepare("SELECT digest, record FROM records WHERE agreement = ? AND seq = ?");
  const insert = s.db.prepare(
    "INSERT INTO records (agreement, seq, period_start, period_end, digest, record) VALUES (?,?,?,?,?,?)",
  );
  const overlapping = s.db.prepare(
    "SELECT digest, record FROM records WHERE agreement = ? AND period_start < ? AND period_end > ? ORDER BY seq",
  );
  const decode = (agreementId: string, row: { digest: string; record: string }): AcceptedRecord => {
    const record = meterRecordFromJson(JSON.parse(row.record));
    if (encodeMeterRecord(record).digest !== row.digest || record.agreementId !== agreementId) {
      throw ledgerError("settlement.ledger.corrupt", "A stored record does not match its digest", {
        agreementId,
        seq: record.seq,
      });
    }
    return { record, digest: row.digest };
  };
  return (agreementId) => ({
    get(seq) {
      const row = one.get(agreementId, seq) as { digest: string; record: string } | undefined;
      return row === undefined ? undefined : decode(agreementId, row);
    },
    set(seq, a) {
      insert.run(
        agreementId,
        seq,
        a.record.periodStart.getTime(),
        a.record.periodEnd.getTime(),
        a.digest,
        JSON.stringify(meterRecordToJson(a.record)),
      );
    },
    overlapping(start, end) {
      const rows = overlapping.all(agreementId, end.getTime(), start.getTime()) as Array<{
        digest: string;
        record: string;
      }>;
      const out = rows.map((r) => decode(agreementId, r));
      for (let i = 1; i < out.length; i++) {
        const prev = out[i - 1]!;
        const cur = out[i]!;
        if (cur.record.seq === prev.record.seq + 1 && cur.record.prevHash !== prev.digest) {
          throw ledgerError("settlement.ledger.corrupt", "Stored records do not chain", {
            agreementId,
            seq: cur.record.seq,
          });
        }
      }
      return out;
    },
  });
}

function allEvents(s: Store): LedgerEvent[] {
  return (s.db.prepare("SELECT body FROM events ORDER BY id").pluck().all() as string[]).map(
    (b) => JSON.parse(b) as LedgerEvent,
  );
}

/**
 * Replays the whole chain through a fresh in-memory core and compares the state, records
 * and events it gives with the saved ones.
 */
function verifyAll(s: Store, saved: LedgerCore, dir: string): { entries: number; head: string } {
  const fresh = new LedgerCore();
  const events: string[] = [];
  let count = 0;
  try {
    for (const e of s.entries()) {
      const entry = JSON.parse(e.body) as LogEntry;
      let out: Outcome;
      try {
        out = fresh.execute(entry.cmd, new Date(entry.at), true);
      } catch (err) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `Entry ${e.index} does not replay`,
          { dir, entry: e.index },
          err,
        );
      }
      for (const ev of out.events) events.push(JSON.stringify(ev));
      count++;
    }
  } catch (err) {
    throw fromStorage(err, dir);
  }
  for (const id of new Set([...fresh.agreements.keys(), ...saved.agreements.keys()])) {
    const a = fresh.agreements.has(id) ? encodeState(fresh.saveState("agreement", id)) : null;
    const b = saved.agreements.has(id) ? encodeState(saved.saveState("agreement", id)) : null;
    if (a !== b) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of agreement ${id} is not what the chain gives`,
        {
          dir,
          agreementId: id,
        },
      );
    }
  }
  for (const id of new Set([...fresh.workOrders.keys(), ...saved.workOrders.keys()])) {
    const a = fresh.workOrders.has(id) ? encodeState(fresh.saveState("workOrder", id)) : null;
    const b = saved.workOrders.has(id) ? encodeState(saved.saveState("workOrder", id)) : null;
    if (a !== b) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The saved state of work order ${id} is not what the chain gives`,
        {
          dir,
          workOrderId: id,
        },
      );
    }
  }
  const stored = s.db.prepare("SELECT body FROM events ORDER BY id").pluck().all() as string[];
  const bad = stored.findIndex((b, i) => b !== events[i]);
  if (bad !== -1 || stored.length !== events.length) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      "The saved events are not what the chain gives",
      {
        dir,
        event: bad === -1 ? Math.min(stored.length, events.length) : bad,
      },
    );
  }
  for (const row of s.db
    .prepare("SELECT agreement, seq FROM records ORDER BY agreement, seq")
    .iterate() as Iterable<{
    agreement: string;
    seq: number;
  }>) {
    const mine = saved.agreements.get(row.agreement)?.records.get(row.seq);
    if (mine === undefined) {
      throw ledgerError("settlement.ledger.corrupt", "A stored record belongs to no agreement", {
        dir,
        agreementId: row.agreement,
        seq: row.seq,
      });
    }
  }
  return { entries: count, head: s.head().hash };
}

/**
 * Migrates a file-based ledger (`ledger.log`) into the store at first open: reads it
 * strictly, copies a torn tail aside to `ledger.log.recovered`, replays every entry through
 * the rules into one transaction, then renames the old file (never deletes it).
 */
function migrateLegacy(s: Store, c: LedgerCore, dir: string): EmbeddedLedgerRecovery {
  const file = join(dir, "ledger.log");
  if (!existsSync(file)) return {};
  const migrated = s.getMeta("migratedFrom");
  if (migrated !== undefined) {
    // Committed, but the process died before the rename: finish it.
    renameAside(file);
    return {};
  }
  if (s.head().index !== -1) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      "Both a file-based log and a SQLite ledger are in this directory; move one away",
      { dir, entry: 0 },
    );
  }
  const legacy = readLegacyLog(file);
  const recovery: {
    tornTail?: { file: string; bytes: number };
    migratedFrom?: { file: string; entries: number };
  } = {};
  if (legacy.tornTail !== undefined) {
    const aside = join(dir, "ledger.log.recovered");
    const fd = openSync(aside, "w");
    try {
      writeSync(fd, legacy.tornTail.bytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    recovery.tornTail = { file: aside, bytes: legacy.tornTail.bytes.length };
  }
  s.transaction(() => {
    for (const [i, payload] of legacy.entries.entries()) {
      let entry: LogEntry;
      let out: Outcome;
      try {
        entry = JSON.parse(payload.toString("utf8")) as LogEntry;
        out = c.execute(entry.cmd, new Date(entry.at), true);
      } catch (err) {
        throw ledgerError(
          "settlement.ledger.corrupt",
          `Entry ${i} of the file-based log does not replay`,
          { dir, entry: i },
          err,
        );
      }
      commit(s, c, entry.cmd, new Date(entry.at), out);
    }
    s.setMeta(
      "migratedFrom",
      JSON.stringify({
        file: "ledger.log",
        entries: legacy.entries.length,
        tornTailBytes: legacy.tornTail?.bytes.length ?? 0,
      }),
    );
  });
  const renamed = renameAside(file);
  recovery.migratedFrom = { file: renamed, entries: legacy.entries.length };
  return recovery;
}

function renameAside(file: string): string {
  let target = `${file}.migrated`;
  for (let n = 1; existsSync(target); n++) target = `${file}.migrated-${n}`;
  renameSync(file, target);
  const dfd = openSync(join(file, ".."), "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
  return target;
}

/** Maps a storage error to the ledger's codes (keeping it as the cause). */
function fromStorage(err: unknown, dir: string): unknown {
  if (!isMaaskitError(err) || !err.code.startsWith("metering.storage.")) return err;
  const code =
    err.code === "metering.storage.locked"
      ? "settlement.ledger.locked"
      : err.code === "metering.storage.corrupt"
        ? "settlement.ledger.corrupt"
        : err.code === "metering.storage.closed"
          ? "settlement.ledger.closed"
          : "settlement.ledger.unavailable";
  const index = (err.details as { index?: number }).index;
  return ledgerError(
    code,
    err.shortMessage,
    { dir, ...(index === undefined ? {} : { entry: index }) },
    err,
  ) as LedgerError;
}

function amountString(amount: Decimal): string {
  try {
    return decimalToString(toDecimal(amount, "amount"));
  } catch (err) {
    if (isLedgerError(err)) throw err;
    throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
      amount: String(amount),
    });
  }
}
