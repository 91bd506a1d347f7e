import {
  asyncScheduler,
  type Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
} from "rxjs";
import { MaaskitError } from "../errors.js";
import { deliveryOptions, isRetryable } from "./deliveryOptions.js";
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
  /**
   * Optional: submits consecutive records in one call, all or none, idempotent per record
   * like `submit`. It may return one `ledgerRef` for the batch (a transaction hash) or
   * `ledgerRefs`, one per record in input order (record hashes). Without it the loop
   * submits one record at a time.
   */
  submitBatch?(
    records: readonly R[],
    // biome-ignore lint/suspicious/noConfusingVoidType: lets `async (rs) => { … }` be a sink
  ): Promise<void | DeliveryBatchResult>;
}

/** What `DeliverySink.submitBatch` may return. */
export interface DeliveryBatchResult {
  /** One reference for the whole batch (kept with the range's acknowledgement). */
  ledgerRef?: string;
  /** One reference per record, in input order (the last one is kept with the acknowledgement). */
  ledgerRefs?: readonly (string | undefined)[];
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
  | {
      type: "retrying";
      seq: number;
      /** Last seq of the batch being retried (absent when one record is retried). */
      to?: number;
      attempt: number;
      error: unknown;
      delayMs: number;
      at: number;
    }
  | {
      /** A batch was accepted and its range acknowledged (after its per-record `delivered`). */
      type: "batchDelivered";
      from: number;
      to: number;
      attempts: number;
      ledgerRef?: string;
      at: number;
    }
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
  /**
   * Most records handed to `sink.submitBatch` at once (consecutive, durable, unacknowledged
   * ones in the journal). Default 100; 1 (or a sink without `submitBatch`) submits one
   * record at a time.
   */
  maxBatch?: number;
  /**
   * Live batching: how long (ms of the scheduler's clock) the loop may hold records that are
   * ready, waiting for more to fill a batch of `maxBatch`, counted from when it first found
   * them waiting. Default 2,000 (a few seconds); 0 delivers at once, a day suits a gateway on
   * a chain paying per transaction. Only with batches (`maxBatch` > 1 and a sink with
   * `submitBatch`). It never holds a record past a billing-period end (a record for which
   * `flushAfter` is true goes at once, with every record before it); `flush()` and `stop()`
   * deliver what is being held at once. On a chain each call is a transaction, so
   * fuller batches cost less gas per record; the price is this much more latency.
   */
  maxBatchDelayMs?: number;
  /**
   * True for a record after which the loop must not wait for more, typically the last record
   * of a billing period (`createSettlementClient` passes one that knows the agreement's
   * periods). Default: never true.
   */
  flushAfter?: (record: R) => boolean;
}

export interface DeliveryLoop<R> {
  /** Every delivery, retry, catch-up and failure, as it happens. Completes after `stop()`. */
  readonly events$: Observable<DeliveryEvent<R>>;
  /** True between `start()` and the loop ending (stopped or halted by a non-retryable error). */
  readonly running: boolean;
  start(): void;
  /**
   * Delivers every record journaled so far without holding it for a fuller batch (a
   * draining gateway calls it: held records would otherwise wait out `maxBatchDelayMs` on a
   * clock that may not move). Later records are held again as usual.
   */
  flush(): void;
  /**
   * Stops taking new work; resolves once an in-flight submit (and its ack) has finished —
   * records held for a fuller batch get one submit first — then completes `events$`. A
   * stopped loop can't be restarted.
   */
  stop(): Promise<void>;
}

/**
 * Hands the journal's unacknowledged records to a sink in seq order, at least once, and
 * appends the acknowledgement to the journal after the sink confirms. A failing submit is
 * retried with exponential backoff — forever, unless the error says `retryable: false`
 * (as a property or in `details`): then a `failed` event is emitted and the loop halts,
 * because later records can't be delivered past a rejected one.
 *
 * When the sink has `submitBatch`, up to `maxBatch` consecutive records go in one call and
 * one acknowledgement entry covers the range; fewer are held up to `maxBatchDelayMs` for
 * more to arrive (live batching), never past a record `flushAfter` marks. A retryable error retries the whole batch (the
 * sink treats records it already applied as duplicates); a non-retryable one replays the
 * batch one record at a time, so the records before the bad one are acknowledged and the
 * `failed` event names the bad one exactly.
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
  const { backoff, maxBatch, maxBatchDelayMs } = deliveryOptions(params);
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
  /** Records are held for a fuller batch (`wake` ends the hold). */
  let holding = false;
  /** Records up to this seq go without holding (`flush()`). */
  let flushThrough = -1;

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

  /**
   * Resolves at the next append, after `ms`, or on stop, whichever comes first: `"ended"` if
   * the journal's changes completed (closed), else `"woke"`.
   */
  function appendOrTimeout(ms: number): Promise<"woke" | "ended"> {
    return new Promise((resolve) => {
      let settled = false;
      let sub: Subscription | undefined;
      const done = (how: "woke" | "ended" = "woke") => {
        if (settled) return;
        settled = true;
        sub?.unsubscribe();
        timer.unsubscribe();
        wake = undefined;
        resolve(how);
      };
      const timer = scheduler.schedule(() => done(), ms);
      sub = journal.changes$.subscribe({
        next: (c) => {
          if (c.type === "append") done();
        },
        complete: () => done("ended"),
      });
      if (settled) sub.unsubscribe();
      else wake = () => done();
    });
  }

  /** Whether a held record ends a billing period (or whatever `flushAfter` marks). */
  async function heldMustGo(): Promise<boolean> {
    const flushAfter = params.flushAfter;
    if (flushAfter === undefined) return false;
    const it = journal.unacknowledged()[Symbol.asyncIterator]();
    try {
      for (let n = 0; n < maxBatch; n++) {
        const r = await it.next();
        if (r.done) return false;
        if (flushAfter(r.value)) return true;
      }
      return false;
    } finally {
      await it.return?.();
    }
  }

  /** Scheduler time at which the records now held were first found waiting. */
  let heldSince: number | undefined;

  /**
   * Live batching: while fewer than `maxBatch` records wait, hold them until `maxBatchDelayMs`
   * after they were first found for more to arrive. Resolves `"full"` when a full batch is
   * ready (deliver full batches only, keep holding the rest), `"all"` when everything waiting
   * must go now (delay over, a `flushAfter` record, stop, journal closed, or no batching).
   */
  async function fillBatch(): Promise<"full" | "all"> {
    if (maxBatchDelayMs === 0 || maxBatch === 1 || params.sink.submitBatch === undefined) {
      return "all";
    }
    const mustGo = () => stopping || journal.state().ackedThrough < flushThrough;
    for (;;) {
      if (mustGo()) return "all";
      const { unacked } = journal.state();
      if (unacked === 0) {
        heldSince = undefined;
        return "all";
      }
      if (unacked >= maxBatch) return "full";
      heldSince ??= scheduler.now();
      if (await heldMustGo()) return "all";
      const left = heldSince + maxBatchDelayMs - scheduler.now();
      // Asked again: a stop() or flush() during the read above found no hold to wake.
      if (left <= 0 || mustGo()) return "all";
      holding = true;
      const how = await appendOrTimeout(left).finally(() => {
        holding = false;
      });
      if (how === "ended") return "all";
    }
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
        const delayMs = delayFor(attempt);
        events.next({ type: "retrying", seq, attempt, error, delayMs, at: scheduler.now() });
        await sleep(delayMs);
        if (stopping) return "stopped";
      }
    }
  }

  function delayFor(attempt: number): number {
    const base = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** (attempt - 1));
    return base * (1 - backoff.jitter * random());
  }

  async function deliverBatch(
    submitBatch: NonNullable<DeliverySink<R>["submitBatch"]>,
    batch: readonly R[],
  ): Promise<"ok" | "stopped" | "halted"> {
    const from = seqOf(batch[0]!);
    const to = from + batch.length - 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = (await submitBatch.call(params.sink, batch)) || undefined;
        const refs = result?.ledgerRefs;
        // With per-record refs the last one stands for the range: records are hash-chained,
        // so the last record's hash commits to every record before it.
        const rangeRef = result?.ledgerRef ?? refs?.at(-1);
        await journal.appendAck({ from, to }, rangeRef);
        const at = scheduler.now();
        batch.forEach((record, i) => {
          const ledgerRef = refs?.[i] ?? result?.ledgerRef;
          events.next({
            type: "delivered",
            seq: from + i,
            record,
            attempts: attempt,
            ...(ledgerRef === undefined ? {} : { ledgerRef }),
            at,
          });
        });
        events.next({
          type: "batchDelivered",
          from,
          to,
          attempts: attempt,
          ...(rangeRef === undefined ? {} : { ledgerRef: rangeRef }),
          at,
        });
        return "ok";
      } catch (error) {
        if (!isRetryable(error)) {
          // Which record is bad? One at a time: the ones before it get acknowledged.
          for (const record of batch) {
            const outcome = await deliver(record);
            if (outcome !== "ok") return outcome;
            if (stopping) return "stopped";
          }
          // Each record went through alone: the batch as a whole was the problem.
          return "ok";
        }
        if (stopping) return "stopped";
        const delayMs = delayFor(attempt);
        events.next({
          type: "retrying",
          seq: from,
          to,
          attempt,
          error,
          delayMs,
          at: scheduler.now(),
        });
        await sleep(delayMs);
        if (stopping) return "stopped";
      }
    }
  }

  /**
   * One pass over the unacknowledged records, in batches of consecutive seqs (a record
   * acknowledged out of order ends a batch, so each batch's acknowledgement is one range).
   */
  async function deliverPending(onlyFull = false): Promise<"ok" | "stopped" | "halted" | "idle"> {
    const submitBatch = maxBatch > 1 ? params.sink.submitBatch : undefined;
    const it = journal.unacknowledged()[Symbol.asyncIterator]();
    let carry: R | undefined;
    let delivered = false;
    try {
      for (;;) {
        const batch: R[] = [];
        if (carry !== undefined) batch.push(carry);
        carry = undefined;
        while (batch.length < (submitBatch ? maxBatch : 1)) {
          const n = await it.next();
          if (n.done) break;
          if (batch.length > 0 && seqOf(n.value) !== seqOf(batch.at(-1)!) + 1) {
            carry = n.value;
            break;
          }
          batch.push(n.value);
        }
        if (batch.length === 0) return delivered ? "ok" : "idle";
        // Live batching: a partial batch (here only when no record broke the run) is held.
        if (onlyFull && batch.length < maxBatch && carry === undefined) {
          return delivered ? "ok" : "idle";
        }
        const outcome =
          submitBatch && batch.length > 1
            ? await deliverBatch(submitBatch, batch)
            : await deliver(batch[0]!);
        if (outcome !== "ok") return outcome;
        delivered = true;
        if (stopping) return "stopped";
      }
    } finally {
      await it.return?.();
    }
  }

  async function run(): Promise<void> {
    let announceIdle = true;
    try {
      while (!stopping) {
        let ready = await fillBatch();
        // Stopped while holding records: they are delivered (one attempt) before it ends.
        let outcome = await deliverPending(ready === "full");
        if (ready === "full" && outcome === "idle") {
          // Counted as a full batch but not one run of consecutive records: send them all.
          ready = "all";
          outcome = await deliverPending();
        }
        if (ready === "all") heldSince = undefined;
        if (outcome === "stopped" || outcome === "halted") return;
        if (outcome === "ok") announceIdle = true;
        // Full batches went; what is left is held (or, if nothing is, caught up) next round.
        if (ready === "full") continue;
        // Caught up only once nothing is held back either.
        if (announceIdle && ready === "all") {
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
    flush() {
      flushThrough = Math.max(flushThrough, journal.state().nextSeq - 1);
      if (holding) wake?.();
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
