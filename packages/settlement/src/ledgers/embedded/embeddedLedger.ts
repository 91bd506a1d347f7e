import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PreVerifiedRecords } from "@maaskit/metering";
import { openStore, type Store } from "@maaskit/metering/storage";
import { from, Observable, Subject, switchMap } from "rxjs";
import type { LedgerBackend, LedgerClock } from "../../ledger.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { preVerifyPool, verifyThreadsOption } from "../../preVerifyPool.js";
import { commandMethods } from "../../rules/commandMethods.js";
import { type Command, LedgerCore, type Outcome } from "../../rules/index.js";
import {
  allEvents,
  commit,
  fromStorage,
  migrateLegacy,
  restore,
  sqliteRecords,
  verifyAll,
} from "./embeddedLedgerStore.js";

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
  /**
   * Worker threads that check submitted records' signatures before the rules run (started
   * at the first submission, stopped by `close`). Default: the available cores; 0 checks
   * them in the rules' thread. Results are the same either way.
   */
  readonly verifyThreads?: number;
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
  /**
   * Starts the signature-check worker threads (`verifyThreads`) now and resolves once they
   * have loaded. Without it they start at the first submission, and submissions made while
   * they load are checked in the rules' thread (same results).
   */
  readonly startVerifyThreads: () => Promise<void>;
}

interface Pending {
  cmd: Command;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** Whether its records' pre-verification has answered (commands apply in call order). */
  settled: boolean;
  preVerified?: PreVerifiedRecords | undefined;
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
  const verifiers = preVerifyPool(verifyThreadsOption(params.verifyThreads));
  const live = new Subject<LedgerEvent>();
  let store: Store | undefined;
  let core: LedgerCore | undefined;
  let recovery: EmbeddedLedgerRecovery = {};
  let failure: unknown;
  let closed = false;
  const queue: Pending[] = [];
  let draining = false;
  let outstanding = 0;
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
          const p: Pending = {
            cmd,
            resolve: resolve as (v: unknown) => void,
            reject,
            settled: cmd.t !== "submitRecords" || verifiers.size === 0,
          };
          if (outstanding++ === 0) {
            idle = new Promise((r) => {
              markIdle = r;
            });
          }
          // Queued now, so commands apply in call order whenever their checks answer.
          queue.push(p);
          if (!p.settled && cmd.t === "submitRecords") {
            void verifiers.verify(cmd.records).then((pre) => {
              p.preVerified = pre;
              p.settled = true;
              schedule();
            });
          }
          schedule();
        }),
    );
  }

  function schedule(): void {
    if (draining || queue[0]?.settled !== true) return;
    draining = true;
    // Let commands issued in the same tick join one transaction and one fsync.
    setImmediate(drain);
  }

  function drain(): void {
    let n = 0;
    while (n < queue.length && queue[n]!.settled) n++;
    const batch = queue.splice(0, n);
    const applied: { p: Pending; out: Outcome }[] = [];
    const s = store!;
    const c = core!;
    try {
      s.transaction(() => {
        for (const p of batch) {
          const at = clock.now();
          let out: Outcome;
          try {
            out = c.execute(p.cmd, at, false, p.preVerified);
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
      finish(batch.length);
      return;
    }
    for (const { p, out } of applied) {
      p.resolve(out.result);
      for (const e of out.events) live.next(e);
    }
    finish(batch.length);
  }

  function finish(done: number): void {
    draining = false;
    outstanding -= done;
    if (outstanding === 0) markIdle();
    schedule();
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
    startVerifyThreads: () => verifiers.warm(),
    events$,

    ...commandMethods(run),

    getAgreement: (agreementId) => read((c) => c.agreementState(agreementId)),
    getBalance: (agreementId) => read((c) => c.balance(agreementId)),
    getInvoices: (agreementId) => read((c) => c.invoices(agreementId)),
    getRecordsHead: (agreementId) => read((c) => c.head(agreementId)),
    getEntitlements: (agreementId) => read((c) => c.entitlements(agreementId)),
    getEvents: () => read((_c, s) => allEvents(s)),

    getWorkOrder: (workOrderId) => read((c) => c.workOrder(workOrderId)),

    async close() {
      try {
        await ready;
      } catch {
        await verifiers.close();
        return;
      }
      if (closed) return;
      await idle;
      closed = true;
      store?.close();
      await verifiers.close();
      live.complete();
    },
  };
}
