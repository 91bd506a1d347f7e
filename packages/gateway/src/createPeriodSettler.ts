import type { Journal, MeterRecord } from "@maaskit/metering";
import {
  type Agreement,
  billingPeriodAt,
  type Invoice,
  isLedgerError,
  type LedgerBackend,
} from "@maaskit/settlement";
import {
  asyncScheduler,
  type Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
} from "rxjs";

/** A billing period the settler has to settle, and the last record it needs acknowledged. */
export interface DuePeriod {
  readonly start: Date;
  readonly end: Date;
  /** The ledger can settle the period once every record up to this seq is acknowledged. */
  readonly lastSeq: number;
}

/** What the settler did. `at` is the scheduler's clock (ms). */
export type SettlerEvent =
  | { type: "period.due"; period: DuePeriod; at: number }
  | { type: "period.settled"; invoice: Invoice; at: number }
  /** The ledger already held an invoice for the period (settled before a crash or a lost reply). */
  | { type: "period.alreadySettled"; invoice: Invoice; at: number }
  | {
      type: "period.retrying";
      period: DuePeriod;
      attempt: number;
      delayMs: number;
      error: unknown;
      at: number;
    };

export interface CreatePeriodSettlerParameters {
  readonly agreement: Agreement;
  readonly ledger: LedgerBackend;
  readonly journal: Journal<MeterRecord>;
  /** Timers for retries; a `VirtualTimeScheduler` in tests. Default `asyncScheduler`. */
  readonly scheduler?: SchedulerLike;
  /** Retry delays after a failed settlement: `min(maxMs, initialMs · 2^(attempt−1))`. Default 1 s … 5 min. */
  readonly retry?: { readonly initialMs?: number; readonly maxMs?: number };
}

/** Settles billing periods once their records are acknowledged — never gives a period up. */
export interface PeriodSettler {
  readonly events$: Observable<SettlerEvent>;
  /** Periods waiting for acknowledgement or for a retry, oldest first. */
  due(): readonly DuePeriod[];
  /** Periods settled or found settled by this settler, oldest first. */
  invoices(): readonly Invoice[];
  /**
   * Looks at a freshly journaled record: if it reaches the end of its billing period, the
   * period becomes due.
   */
  track(record: MeterRecord): void;
  /**
   * After a restart: every complete billing period the journal covers that the ledger has no
   * invoice for becomes due.
   */
  catchUp(): Promise<readonly DuePeriod[]>;
  /** Tries the due periods now (also happens on every acknowledgement and retry timer). */
  poke(): void;
  /** Resolves when no settlement attempt is running (the due list may still hold periods). */
  idle(): Promise<void>;
  /** Cancels retry timers and stops reacting to acknowledgements; completes `events$`. */
  stop(): Promise<void>;
}

/**
 * The settlement half of the gateway, event-driven: a billing period becomes due when a
 * record reaches its end; it is settled on the ledger as soon as the journal acknowledges
 * every record up to that one (the journal's `changes$`, no polling). A failed settlement is
 * retried with backoff on the scheduler for as long as the settler runs — a ledger outage of
 * any length delays the invoice, never loses it. `settlement.period.alreadySettled` counts as
 * done (the existing invoice is read back), so a period is invoiced exactly once across
 * crashes and lost replies.
 *
 * @example
 * ```ts
 * const settler = createPeriodSettler({ agreement, ledger, journal });
 * settler.events$.subscribe((e) => e.type === "period.settled" && console.log(e.invoice.total));
 * await settler.catchUp();
 * recorder.record(window).then((r) => settler.track(r));
 * ```
 */
export function createPeriodSettler(p: CreatePeriodSettlerParameters): PeriodSettler {
  const { agreement, ledger, journal } = p;
  const scheduler = p.scheduler ?? asyncScheduler;
  const initialMs = p.retry?.initialMs ?? 1000;
  const maxMs = p.retry?.maxMs ?? 300_000;
  const events$ = new Subject<SettlerEvent>();
  const pending = new Map<number, DuePeriod>();
  const attempts = new Map<number, number>();
  const done = new Set<number>();
  const invoices: Invoice[] = [];
  let retryTimer: Subscription | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  const ackSub = journal.changes$.subscribe((c) => {
    if (c.type === "ack") poke();
  });

  function addDue(period: DuePeriod) {
    const key = period.start.getTime();
    if (done.has(key)) return;
    const existing = pending.get(key);
    if (existing && existing.lastSeq >= period.lastSeq) return;
    pending.set(key, period);
    events$.next({ type: "period.due", period, at: scheduler.now() });
  }

  function track(record: MeterRecord) {
    const period = billingPeriodAt(agreement, record.periodStart);
    if (record.periodEnd.getTime() >= period.end.getTime()) {
      addDue({ start: period.start, end: period.end, lastSeq: record.seq });
      poke();
    }
  }

  async function catchUp(): Promise<readonly DuePeriod[]> {
    const last = journal.last();
    if (last === undefined) return [];
    const invoiced = new Set(
      (await ledger.getInvoices(agreement.agreementId)).map((i) => i.period.start.getTime()),
    );
    for (const t of invoiced) done.add(t);
    // The seq of the last record ending at or before each period end.
    const lastSeqBefore = new Map<number, number>();
    const ends: number[] = [];
    let period = billingPeriodAt(agreement, agreement.start);
    while (period.end.getTime() <= last.periodEnd.getTime()) {
      if (!invoiced.has(period.start.getTime())) ends.push(period.end.getTime());
      period = billingPeriodAt(agreement, period.end);
    }
    if (ends.length > 0) {
      const state = journal.state();
      // Records still in the live journal; archived ones are acknowledged already.
      let seqAtEnd = state.archivedThrough;
      let i = 0;
      for await (const r of journal.read()) {
        while (i < ends.length && r.periodEnd.getTime() > ends[i]!) {
          lastSeqBefore.set(ends[i]!, seqAtEnd);
          i++;
        }
        seqAtEnd = r.seq;
        if (i >= ends.length) break;
      }
      for (; i < ends.length; i++) lastSeqBefore.set(ends[i]!, seqAtEnd);
    }
    const added: DuePeriod[] = [];
    period = billingPeriodAt(agreement, agreement.start);
    while (period.end.getTime() <= last.periodEnd.getTime()) {
      const lastSeq = lastSeqBefore.get(period.end.getTime());
      if (lastSeq !== undefined) {
        const due = { start: period.start, end: period.end, lastSeq };
        addDue(due);
        added.push(due);
      }
      period = billingPeriodAt(agreement, period.end);
    }
    poke();
    return added;
  }

  function poke() {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = attempt().finally(() => {
      running = undefined;
      if (again && !stopped) {
        again = false;
        poke();
      }
    });
  }

  async function attempt(): Promise<void> {
    const ordered = [...pending.values()].sort((a, b) => a.start.getTime() - b.start.getTime());
    for (const due of ordered) {
      if (stopped) return;
      if (journal.state().ackedThrough < due.lastSeq) return; // an acknowledgement pokes again
      const key = due.start.getTime();
      try {
        const invoice = await ledger.settlePeriod({
          agreementId: agreement.agreementId,
          period: { start: due.start, end: due.end },
        });
        finish(key, invoice, "period.settled");
      } catch (err) {
        if (isLedgerError(err, "settlement.period.alreadySettled")) {
          const existing = await ledger
            .getInvoices(agreement.agreementId)
            .then((all) => all.find((i) => i.period.start.getTime() === key))
            .catch(() => undefined);
          if (existing) {
            finish(key, existing, "period.alreadySettled");
            continue;
          }
        }
        scheduleRetry(due, err);
        return; // periods settle in order
      }
    }
  }

  function finish(key: number, invoice: Invoice, type: "period.settled" | "period.alreadySettled") {
    pending.delete(key);
    attempts.delete(key);
    done.add(key);
    invoices.push(invoice);
    events$.next({ type, invoice, at: scheduler.now() });
  }

  function scheduleRetry(due: DuePeriod, error: unknown) {
    const key = due.start.getTime();
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    const delayMs = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
    events$.next({
      type: "period.retrying",
      period: due,
      attempt,
      delayMs,
      error,
      at: scheduler.now(),
    });
    retryTimer?.unsubscribe();
    retryTimer = scheduler.schedule(() => {
      retryTimer = undefined;
      poke();
    }, delayMs);
  }

  return {
    events$: events$.asObservable(),
    due: () => [...pending.values()].sort((a, b) => a.start.getTime() - b.start.getTime()),
    invoices: () => [...invoices],
    track,
    catchUp,
    poke,
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      ackSub.unsubscribe();
      retryTimer?.unsubscribe();
      while (running) await running;
      events$.complete();
    },
  };
}
