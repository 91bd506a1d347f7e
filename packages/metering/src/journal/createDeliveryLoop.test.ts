import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VirtualTimeScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { isMaaskitError, MaaskitError } from "../errors.js";
import { openStore } from "../storage/openStore.js";
import { createDeliveryLoop, type DeliveryEvent } from "./createDeliveryLoop.js";
import type { ChainEntry } from "./journalCodec.js";
import { type Journal, openJournal, ZERO_HASH } from "./openJournal.js";

function chain(n: number, from = 0, prevHash = ZERO_HASH): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prev = prevHash;
  for (let i = 0; i < n; i++) {
    const body = { seq: from + i, prevHash: prev, note: `n${from + i}` };
    const hash = `0x${createHash("sha256").update(JSON.stringify(body)).digest("hex")}`;
    out.push({ ...body, hash });
    prev = hash;
  }
  return out;
}

let dir: string;
let journal: Journal;
let scheduler: VirtualTimeScheduler;

/**
 * Lets pending promises and journal I/O settle (the journal fsyncs in the thread pool), then
 * runs due virtual-time actions, until `done()` — giving up after 10 s of real time.
 */
async function runUntil(done: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  while (!done() && Date.now() < giveUpAt) {
    await new Promise((r) => setImmediate(r));
    scheduler.flush();
  }
  expect(done()).toBe(true);
}

function recorder(loop: { events$: import("rxjs").Observable<DeliveryEvent<ChainEntry>> }) {
  const events: DeliveryEvent<ChainEntry>[] = [];
  loop.events$.subscribe((e) => events.push(e));
  return events;
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-delivery-"));
  journal = await openJournal({ dir });
  scheduler = new VirtualTimeScheduler();
});
afterEach(async () => {
  await journal.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("createDeliveryLoop", () => {
  test("default", async () => {
    for (const r of chain(5)) await journal.append(r);
    const submitted: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: { submit: async (r) => void submitted.push(r.seq) },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(submitted).toEqual([0, 1, 2, 3, 4]);
    expect(events.map((e) => e.type)).toEqual([...Array(5).fill("delivered"), "caughtUp"]);
    expect(events.at(-1)).toMatchObject({ type: "caughtUp", ackedThrough: 4 });
    expect(journal.state()).toMatchObject({ ackedThrough: 4, unacked: 0 });
    await loop.stop();
    expect(loop.running).toBe(false);
  });

  test("behavior: a sink failing N times then succeeding gets each record delivered once, in order, with backoff", async () => {
    for (const r of chain(4)) await journal.append(r);
    const attempts: number[] = [];
    const accepted: number[] = [];
    let failuresLeft = 4;
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async (r) => {
          attempts.push(r.seq);
          if (r.seq === 1 && failuresLeft-- > 0) throw new Error("ledger unavailable");
          accepted.push(r.seq);
        },
      },
      backoff: { initialMs: 100, factor: 2, maxMs: 300, jitter: 0 },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(accepted).toEqual([0, 1, 2, 3]);
    expect(attempts).toEqual([0, 1, 1, 1, 1, 1, 2, 3]);
    const retries = events.filter((e) => e.type === "retrying");
    // 100, 200, 400 → capped at 300, 300.
    expect(retries.map((e) => e.delayMs)).toEqual([100, 200, 300, 300]);
    expect(retries.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(retries.map((e) => e.at)).toEqual([0, 100, 300, 600]);
    const delivered = events.filter((e) => e.type === "delivered");
    expect(delivered.map((e) => [e.seq, e.attempts, e.at])).toEqual([
      [0, 1, 0],
      [1, 5, 900],
      [2, 1, 900],
      [3, 1, 900],
    ]);
    await loop.stop();
    await journal.close();
    journal = await openJournal({ dir });
    expect(journal.state()).toMatchObject({ ackedThrough: 3, unacked: 0 });
  });

  test("args: jitter shortens delays by jitter · random()", async () => {
    for (const r of chain(1)) await journal.append(r);
    let fail = 2;
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async () => {
          if (fail-- > 0) throw new Error("busy");
        },
      },
      backoff: { initialMs: 1000, factor: 3, maxMs: 10_000, jitter: 0.5 },
      random: () => 0.5,
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(events.filter((e) => e.type === "retrying").map((e) => e.delayMs)).toEqual([750, 2250]);
    await loop.stop();
  });

  test("behavior: records appended after catching up are delivered", async () => {
    const records = chain(4);
    await journal.append(records[0]!);
    const accepted: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: { submit: async (r) => void accepted.push(r.seq) },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    // Caught up (record 0 delivered and its acknowledgement durable) before more arrive.
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(accepted).toEqual([0]);
    for (const r of records.slice(1)) await journal.append(r);
    await runUntil(() => accepted.length === 4);
    expect(accepted).toEqual([0, 1, 2, 3]);
    await runUntil(() => events.filter((e) => e.type === "caughtUp").length >= 2);
    await loop.stop();
  });

  test("behavior: a restarted loop resumes at the first unacknowledged record", async () => {
    for (const r of chain(5)) await journal.append(r);
    await journal.appendAck({ from: 0, to: 1 });
    await journal.appendAck(3);
    const accepted: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: { submit: async (r) => void accepted.push(r.seq) },
      scheduler,
    });
    loop.start();
    await runUntil(() => accepted.length === 2);
    expect(accepted).toEqual([2, 4]);
    await loop.stop();
  });

  test("behavior: the ledger reference is kept with the acknowledgement", async () => {
    for (const r of chain(1)) await journal.append(r);
    const loop = createDeliveryLoop({
      journal,
      sink: { submit: async (r) => ({ ledgerRef: `tx-${r.seq}` }) },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "delivered"));
    expect(events[0]).toMatchObject({ type: "delivered", seq: 0, ledgerRef: "tx-0" });
    await loop.stop();
    await journal.close();
    expect(storedAcks(dir)).toContain('"ledgerRef":"tx-0"');
  });

  test("behavior: stop waits for the in-flight submit and its acknowledgement", async () => {
    for (const r of chain(2)) await journal.append(r);
    let release: () => void = () => {};
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: () =>
          new Promise<void>((resolve) => {
            release = resolve;
          }),
      },
      scheduler,
    });
    loop.start();
    await new Promise((r) => setImmediate(r));
    let stopped = false;
    const stopping = loop.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(journal.state()).toMatchObject({ ackedThrough: 0, unacked: 1 });
    expect(() => loop.start()).toThrow(MaaskitError);
  });

  test("error: a non-retryable sink error halts the loop without acknowledging", async () => {
    for (const r of chain(3)) await journal.append(r);
    const rejection = new MaaskitError("settlement.ledger.rejected", "bad signature", {
      details: { retryable: false },
    });
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async (r) => {
          if (r.seq === 1) throw rejection;
        },
      },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => !loop.running);
    expect(events.map((e) => e.type)).toEqual(["delivered", "failed"]);
    expect(events[1]).toMatchObject({ seq: 1, attempt: 1, error: rejection });
    expect(journal.state()).toMatchObject({ ackedThrough: 0, unacked: 2 });
    await loop.stop();
  });

  test("behavior: a sink with submitBatch gets up to maxBatch consecutive records per call, one ack entry per batch", async () => {
    for (const r of chain(7)) await journal.append(r);
    const calls: number[][] = [];
    const singles: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async (r) => void singles.push(r.seq),
        submitBatch: async (rs) => {
          calls.push(rs.map((r) => r.seq));
          return { ledgerRefs: rs.map((r) => `h-${r.seq}`) };
        },
      },
      maxBatch: 3,
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    // 7 = 3 + 3 + 1: a lone record goes through `submit`.
    expect(calls).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(singles).toEqual([6]);
    const delivered = events.filter((e) => e.type === "delivered");
    expect(delivered.map((e) => [e.seq, e.ledgerRef, e.attempts])).toEqual([
      [0, "h-0", 1],
      [1, "h-1", 1],
      [2, "h-2", 1],
      [3, "h-3", 1],
      [4, "h-4", 1],
      [5, "h-5", 1],
      [6, undefined, 1],
    ]);
    expect(
      events.filter((e) => e.type === "batchDelivered").map((e) => [e.from, e.to, e.ledgerRef]),
    ).toEqual([
      [0, 2, "h-2"],
      [3, 5, "h-5"],
    ]);
    await loop.stop();
    await journal.close();
    const log = storedAcks(dir);
    expect(log.match(/"k":"ack"/g)).toHaveLength(3);
    expect(log).toContain('{"from":0,"k":"ack","ledgerRef":"h-2","to":2}');
    expect(log).toContain('{"from":3,"k":"ack","ledgerRef":"h-5","to":5}');
  });

  test("default: maxBatch is 100 and one ledgerRef for the batch is kept for every record", async () => {
    for (const r of chain(250)) await journal.append(r);
    const calls: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async () => {
          throw new Error("not used");
        },
        submitBatch: async (rs) => {
          calls.push(rs.length);
          return { ledgerRef: `tx-${rs[0]!.seq}` };
        },
      },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(calls).toEqual([100, 100, 50]);
    const delivered = events.filter((e) => e.type === "delivered");
    expect(delivered.map((e) => e.seq)).toEqual([...Array(250).keys()]);
    expect(delivered[150]).toMatchObject({ seq: 150, ledgerRef: "tx-100" });
    expect(journal.state()).toMatchObject({ ackedThrough: 249, unacked: 0 });
    await loop.stop();
  });

  test("behavior: a retryable error retries the whole batch with backoff", async () => {
    for (const r of chain(4)) await journal.append(r);
    const calls: number[][] = [];
    let failuresLeft = 2;
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async () => {
          throw new Error("not used");
        },
        submitBatch: async (rs) => {
          calls.push(rs.map((r) => r.seq));
          if (failuresLeft-- > 0) throw new Error("ledger unavailable");
        },
      },
      backoff: { initialMs: 100, factor: 2, maxMs: 1000, jitter: 0 },
      // Deliver the 4 waiting records at once (no live batching), so times are the backoff's.
      maxBatchDelayMs: 0,
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(calls).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    const retries = events.filter((e) => e.type === "retrying");
    expect(retries.map((e) => [e.seq, e.to, e.attempt, e.delayMs, e.at])).toEqual([
      [0, 3, 1, 100, 0],
      [0, 3, 2, 200, 100],
    ]);
    const delivered = events.filter((e) => e.type === "delivered");
    expect(delivered.map((e) => [e.seq, e.attempts, e.at])).toEqual([
      [0, 3, 300],
      [1, 3, 300],
      [2, 3, 300],
      [3, 3, 300],
    ]);
    expect(events.filter((e) => e.type === "batchDelivered")).toMatchObject([
      { from: 0, to: 3, attempts: 3 },
    ]);
    await loop.stop();
  });

  test("error: a non-retryable batch error falls back to one record at a time, acknowledges the good ones and halts at the bad one", async () => {
    for (const r of chain(6)) await journal.append(r);
    const rejection = new MaaskitError("settlement.record.badSignature", "bad signature", {
      details: { retryable: false },
    });
    const batches: number[][] = [];
    const singles: number[] = [];
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async (r) => {
          singles.push(r.seq);
          if (r.seq === 3) throw rejection;
        },
        submitBatch: async (rs) => {
          batches.push(rs.map((r) => r.seq));
          if (rs.some((r) => r.seq === 3)) throw rejection;
        },
      },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => !loop.running);
    expect(batches).toEqual([[0, 1, 2, 3, 4, 5]]);
    expect(singles).toEqual([0, 1, 2, 3]);
    expect(events.map((e) => (e.type === "delivered" ? e.seq : e.type))).toEqual([
      0,
      1,
      2,
      "failed",
    ]);
    expect(events.at(-1)).toMatchObject({ type: "failed", seq: 3, attempt: 1, error: rejection });
    expect(journal.state()).toMatchObject({ ackedThrough: 2, unacked: 3 });
    await loop.stop();
  });

  test("behavior: a batch rejected as a whole whose records pass one by one is delivered, and the loop goes on", async () => {
    for (const r of chain(3)) await journal.append(r);
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async () => {},
        submitBatch: async () => {
          throw Object.assign(new Error("batch too large"), { retryable: false });
        },
      },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(events.map((e) => e.type)).toEqual(["delivered", "delivered", "delivered", "caughtUp"]);
    expect(loop.running).toBe(true);
    await loop.stop();
  });

  test("behavior: acknowledgements as ranges survive a reopen; a record acknowledged out of order ends a batch", async () => {
    for (const r of chain(8)) await journal.append(r);
    await journal.appendAck(4);
    const calls: number[][] = [];
    const sink = {
      submit: async (r: ChainEntry) => void calls.push([r.seq]),
      submitBatch: async (rs: readonly ChainEntry[]) => void calls.push(rs.map((r) => r.seq)),
    };
    const loop = createDeliveryLoop({ journal, sink, scheduler });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "caughtUp"));
    expect(calls).toEqual([
      [0, 1, 2, 3],
      [5, 6, 7],
    ]);
    await loop.stop();
    await journal.close();
    journal = await openJournal({ dir });
    expect(journal.state()).toMatchObject({ ackedThrough: 7, unacked: 0 });
    for (const r of chain(3, 8, journal.state().head)) await journal.append(r);
    const again = createDeliveryLoop({ journal, sink, scheduler });
    const events2 = recorder(again);
    again.start();
    await runUntil(() => events2.some((e) => e.type === "caughtUp"));
    // Only the new records: nothing acknowledged before the reopen is submitted again.
    expect(calls.at(-1)).toEqual([8, 9, 10]);
    expect(calls).toHaveLength(3);
    await again.stop();
  });

  test("behavior: stop during a batch's backoff leaves the batch unacknowledged", async () => {
    for (const r of chain(3)) await journal.append(r);
    const loop = createDeliveryLoop({
      journal,
      sink: {
        submit: async () => {},
        submitBatch: async () => {
          throw new Error("ledger unavailable");
        },
      },
      backoff: { initialMs: 1000, jitter: 0 },
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await runUntil(() => events.some((e) => e.type === "retrying"));
    await loop.stop();
    expect(journal.state()).toMatchObject({ ackedThrough: -1, unacked: 3 });
  });

  test("error: invalid maxBatch", () => {
    for (const maxBatch of [0, 1.5, Number.NaN]) {
      let caught: unknown;
      try {
        createDeliveryLoop({ journal, sink: { submit: async () => {} }, maxBatch });
      } catch (err) {
        caught = err;
      }
      expect(isMaaskitError(caught, "metering.journal.invalidConfig")).toBe(true);
      expect((caught as MaaskitError).details.problems).toEqual([
        "maxBatch must be an integer >= 1",
      ]);
    }
  });

  test("error: invalid backoff reports all problems", () => {
    let caught: unknown;
    try {
      createDeliveryLoop({
        journal,
        sink: { submit: async () => {} },
        backoff: { initialMs: -1, factor: 0.5, jitter: 2 },
      });
    } catch (err) {
      caught = err;
    }
    expect(isMaaskitError(caught, "metering.journal.invalidConfig")).toBe(true);
    expect((caught as MaaskitError).details.problems).toHaveLength(3);
  });
});

/** The ack entries of a closed journal's store, one JSON per line. */
function storedAcks(d: string): string {
  const store = openStore({ file: path.join(d, "journal.db"), kind: "metering.journal/1" });
  try {
    return [...store.entries()]
      .filter((e) => e.kind === "ack")
      .map((e) => e.body)
      .join("\n");
  } finally {
    store.close();
  }
}
