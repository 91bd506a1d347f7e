import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  decimalToString,
  type PeriodStatement,
  periodStatementToJson,
  toDecimal,
} from "@maaskit/metering";
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
import { isLedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { recordsToJson } from "../../recordsToJson.js";
import { type AppendLog, openAppendLog } from "./appendLog.js";
import { acquireDirLock, type DirLock } from "./dirLock.js";
import { type Command, LedgerCore, type Outcome, workOrderTermsToJson } from "./ledgerCore.js";

/** Options of `embeddedLedger`. */
export interface EmbeddedLedgerParameters {
  /** Directory of the ledger (created if missing); one ledger per directory, one writer. */
  readonly dir: string;
  /** Time source; default the system clock. */
  readonly clock?: LedgerClock;
}

/** The embedded ledger: a `LedgerBackend` plus `ready`, which settles once the log is replayed. */
export interface EmbeddedLedger extends LedgerBackend {
  readonly kind: "embedded";
  /** Resolves when the log is open and replayed (rejects with `settlement.ledger.corrupt`/`.locked`). */
  readonly ready: Promise<void>;
  /** Bytes of a torn last write cut off at open (0 after a clean shutdown). */
  readonly recoveredBytes: () => number;
}

/** One log entry: the command, the instant it was applied at, and a format version. */
interface LogEntry {
  v: 1;
  at: string;
  cmd: Command;
}

interface Pending {
  cmd: Command;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * The default ledger backend: no server, a single-writer append-only log in `dir`. Every
 * accepted command — with its idempotency key (agreement + seq, deposit reference, work-order
 * id) inside — is ONE checksummed log entry, written and fsynced before the call resolves, so
 * a crash at any instant neither loses an acknowledged command nor applies one twice. The
 * state is rebuilt at open by replaying the log through the same rules; a torn last write is
 * cut off. Commands arriving together share one write and one fsync (group commit).
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
  const core = new LedgerCore();
  const history: LedgerEvent[] = [];
  const live = new Subject<LedgerEvent>();
  let log: AppendLog | undefined;
  let lock: DirLock | undefined;
  let recovered = 0;
  let failure: unknown;
  let closed = false;
  let queue: Pending[] = [];
  let draining = false;
  let idle: Promise<void> = Promise.resolve();
  let markIdle: () => void = () => {};

  const ready = (async () => {
    mkdirSync(params.dir, { recursive: true });
    lock = acquireDirLock(params.dir);
    try {
      const opened = openAppendLog(join(params.dir, "ledger.log"));
      log = opened.log;
      recovered = opened.truncatedBytes;
      for (const [i, payload] of opened.entries.entries()) {
        let entry: LogEntry;
        let out: Outcome;
        try {
          entry = JSON.parse(payload.toString("utf8")) as LogEntry;
          out = core.execute(entry.cmd, new Date(entry.at), true);
        } catch (err) {
          throw ledgerError(
            "settlement.ledger.corrupt",
            "A logged command does not replay",
            { dir: params.dir, entry: i },
            err,
          );
        }
        history.push(...out.events);
      }
    } catch (err) {
      log?.close();
      lock.release();
      throw err;
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
            // Let commands issued in the same tick join one write and one fsync.
            setImmediate(drain);
          }
        }),
    );
  }

  function drain(): void {
    const batch = queue;
    queue = [];
    const applied: { p: Pending; out: Outcome }[] = [];
    const payloads: Buffer[] = [];
    for (const p of batch) {
      const at = clock.now();
      try {
        const out = core.execute(p.cmd, at, false);
        if (out.changed) {
          const entry: LogEntry = { v: 1, at: at.toISOString(), cmd: p.cmd };
          payloads.push(Buffer.from(JSON.stringify(entry), "utf8"));
        }
        applied.push({ p, out });
      } catch (err) {
        p.reject(err);
      }
    }
    try {
      log!.append(payloads);
    } catch (err) {
      // Memory is now ahead of the disk: refuse everything until the log is reopened.
      failure = err;
      for (const { p } of applied) {
        p.reject(
          ledgerError(
            "settlement.ledger.unavailable",
            "The ledger log could not be written",
            { dir: params.dir },
            err,
          ),
        );
      }
      finish();
      return;
    }
    for (const { out } of applied) history.push(...out.events);
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

  async function read<T>(fn: () => T): Promise<T> {
    await ready;
    if (closed)
      throw ledgerError("settlement.ledger.closed", "The ledger is closed", { dir: params.dir });
    return fn();
  }

  const events$ = from(ready).pipe(
    switchMap(
      () =>
        new Observable<LedgerEvent>((subscriber) => {
          // Snapshot and subscription happen in one tick: no event falls between them.
          for (const e of history.slice()) subscriber.next(e);
          return live.subscribe(subscriber);
        }),
    ),
  );

  return {
    kind: "embedded",
    ready,
    recoveredBytes: () => recovered,
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

    getAgreement: (agreementId) => read(() => core.agreementState(agreementId)),
    getBalance: (agreementId) => read(() => core.balance(agreementId)),
    getInvoices: (agreementId) => read(() => core.invoices(agreementId)),
    getRecordsHead: (agreementId) => read(() => core.head(agreementId)),
    getEvents: () => read(() => history.slice()),

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
    getWorkOrder: (workOrderId) => read(() => core.workOrder(workOrderId)),

    async close() {
      try {
        await ready;
      } catch {
        return;
      }
      if (closed) return;
      await idle;
      closed = true;
      log?.close();
      lock?.release();
      live.complete();
    },
  };
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
