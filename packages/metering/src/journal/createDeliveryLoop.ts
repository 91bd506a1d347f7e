import {
  asyncScheduler,
  type Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
} from "rxjs";
import { MaaskitError } from "../errors.js";
import type { Journal } from "./openJournal.js";

/**
 * Where the delivery loop hands records: a ledger, usually. `submit` must be idempotent by
 * `(agreementId, seq)` — after a crash between the sink's confirmation and the journal's
 * acknowledgement entry, the same record is submitted again. It may return a reference
 * (transaction hash, ledger entry id) that is stored with the acknowledgement.
 */
export interface DeliverySink<R> {
  // biome-ignore lint/suspicious/noConfusingVoidType: lets `async (r) => { … }` be a sink
  submit(record: R): Promise<void | { ledgerRef?: string }>;
}

/** Exponential backoff: `min(maxMs, initialMs · factor^(attempt−1)) · (1 − jitter · random())`. */
export interface DeliveryBackoff {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0 = no jitter, 1 = anywhere between 0 and the full delay. */
  jitter: number;
}

/** What the delivery loop did; `at` is the scheduler's clock (ms). */
export type DeliveryEvent<R> =
  | { type: "delivered"; seq: number; record: R; attempts: number; ledgerRef?: string; at: number }
  | { type: "retrying"; seq: number; attempt: number; error: unknown; delayMs: number; at: number }
  | { type: "caughtUp"; ackedThrough: number; at: number }
  | { type: "failed"; seq: number; attempt: number; error: unknown; at: number };

export interface CreateDeliveryLoopParameters<R> {
  journal: Journal<R>;
  sink: DeliverySink<R>;
  /** Default `{ initialMs: 500, maxMs: 60_000, factor: 2, jitter: 0.2 }`. */
  backoff?: Partial<DeliveryBackoff>;
  /** Clock for backoff delays; a `VirtualTimeScheduler` in tests. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  random?: () => number;
}

export interface DeliveryLoop<R> {
  /** Every delivery, retry, catch-up and failure, as it happens. Completes after `stop()`. */
  readonly events$: Observable<DeliveryEvent<R>>;
  /** True between `start()` and the loop ending (stopped or halted by a non-retryable error). */
  readonly running: boolean;
  start(): void;
  /**
   * Stops taking new work; resolves once an in-flight submit (and its ack) has finished,
   * then completes `events$`. A stopped loop can't be restarted.
   */
  stop(): Promise<void>;
}

const DEFAULT_BACKOFF: DeliveryBackoff = { initialMs: 500, maxMs: 60_000, factor: 2, jitter: 0.2 };

/**
 * Hands the journal's unacknowledged records to a sink in seq order, at least once, and
 * appends the acknowledgement to the journal after the sink confirms. A failing submit is
 * retried with exponential backoff — forever, unless the error says `retryable: false`
 * (as a property or in `details`): then a `failed` event is emitted and the loop halts,
 * because later records can't be delivered past a rejected one.
 *
 * @example
 * ```ts
 * const loop = createDeliveryLoop({ journal, sink: { submit: (r) => ledger.submitRecords([r]) } });
 * loop.events$.subscribe((e) => log(e.type));
 * loop.start();
 * // …
 * await loop.stop();
 * ```
 */
export function createDeliveryLoop<R>(params: CreateDeliveryLoopParameters<R>): DeliveryLoop<R> {
  const backoff = { ...DEFAULT_BACKOFF, ...params.backoff };
  const problems: string[] = [];
  if (!(backoff.initialMs >= 0)) problems.push("backoff.initialMs must be >= 0");
  if (!(backoff.maxMs >= backoff.initialMs)) problems.push("backoff.maxMs must be >= initialMs");
  if (!(backoff.factor >= 1)) problems.push("backoff.factor must be >= 1");
  if (!(backoff.jitter >= 0 && backoff.jitter <= 1))
    problems.push("backoff.jitter must be in [0, 1]");
  if (problems.length > 0) {
    throw new MaaskitError("metering.journal.invalidConfig", problems.join("; "), {
      details: { problems },
    });
  }
  const { journal, sink } = params;
  const scheduler = params.scheduler ?? asyncScheduler;
  const random = params.random ?? Math.random;
  const events = new Subject<DeliveryEvent<R>>();
  let running = false;
  let stopping = false;
  let stopped = false;
  let runPromise: Promise<void> | undefined;
  /** Wakes a backoff sleep or an idle wait early (on stop). */
  let wake: (() => void) | undefined;

  const seqOf = (record: R) => Number(journal.codec.seq(record));

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const sub = scheduler.schedule(() => done(), ms);
      const done = () => {
        sub.unsubscribe();
        wake = undefined;
        resolve();
      };
      wake = done;
    });
  }

  function nextAppend(): Promise<void> {
    return new Promise((resolve) => {
      let sub: Subscription | undefined;
      const done = () => {
        sub?.unsubscribe();
        wake = undefined;
        resolve();
      };
      sub = journal.changes$.subscribe({
        next: (c) => {
          if (c.type === "append") done();
        },
        complete: done,
      });
      wake = done;
      // An append may have landed before we subscribed.
      if (journal.state().unacked > 0) done();
    });
  }

  async function deliver(record: R): Promise<"ok" | "stopped" | "halted"> {
    const seq = seqOf(record);
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await sink.submit(record);
        const ledgerRef = result ? result.ledgerRef : undefined;
        await journal.appendAck(seq, ledgerRef);
        events.next({
          type: "delivered",
          seq,
          record,
          attempts: attempt,
          ...(ledgerRef === undefined ? {} : { ledgerRef }),
          at: scheduler.now(),
        });
        return "ok";
      } catch (error) {
        if (!isRetryable(error)) {
          events.next({ type: "failed", seq, attempt, error, at: scheduler.now() });
          return "halted";
        }
        if (stopping) return "stopped";
        const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (attempt - 1));
        const delayMs = base * (1 - backoff.jitter * random());
        events.next({ type: "retrying", seq, attempt, error, delayMs, at: scheduler.now() });
        await sleep(delayMs);
        if (stopping) return "stopped";
      }
    }
  }

  async function run(): Promise<void> {
    let announceIdle = true;
    try {
      while (!stopping) {
        for await (const record of journal.unacknowledged()) {
          const outcome = await deliver(record);
          if (outcome !== "ok") return;
          announceIdle = true;
          if (stopping) return;
        }
        if (announceIdle) {
          events.next({
            type: "caughtUp",
            ackedThrough: journal.state().ackedThrough,
            at: scheduler.now(),
          });
          announceIdle = false;
        }
        await nextAppend();
      }
    } catch (error) {
      // The journal itself failed (closed, unreadable): nothing more can be delivered.
      events.next({
        type: "failed",
        seq: journal.state().ackedThrough + 1,
        attempt: 0,
        error,
        at: scheduler.now(),
      });
    } finally {
      running = false;
    }
  }

  return {
    events$: events.asObservable(),
    get running() {
      return running;
    },
    start() {
      if (stopped) {
        throw new MaaskitError(
          "metering.delivery.stopped",
          "A stopped delivery loop can't restart; create a new one",
        );
      }
      if (running) return;
      running = true;
      stopping = false;
      runPromise = run();
    },
    async stop() {
      stopping = true;
      stopped = true;
      wake?.();
      await runPromise;
      events.complete();
    },
  };
}

function isRetryable(error: unknown): boolean {
  if (error === null || typeof error !== "object") return true;
  const e = error as { retryable?: unknown; details?: { retryable?: unknown } };
  if (e.retryable === false) return false;
  if (e.details !== null && typeof e.details === "object" && e.details.retryable === false) {
    return false;
  }
  return true;
}
