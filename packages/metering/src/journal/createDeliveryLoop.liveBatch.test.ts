import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { VirtualTimeScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { isMaaskitError, type MaaskitError } from "../errors.js";
import { createDeliveryLoop, type DeliveryEvent, type DeliverySink } from "./createDeliveryLoop.js";
import type { ChainEntry } from "./journalCodec.js";
import { type Journal, openJournal, ZERO_HASH } from "./openJournal.js";

// Live batching on virtual time: the scheduler's clock only moves when `advanceTo` says so,
// while the journal's appends and fsyncs are real.

let dir: string;
let journal: Journal;
let scheduler: VirtualTimeScheduler;
let appended: ChainEntry[];

function next(note = ""): ChainEntry {
  const seq = appended.length;
  const body = { seq, prevHash: appended.at(-1)?.hash ?? ZERO_HASH, note: note || `n${seq}` };
  const hash = `0x${createHash("sha256").update(JSON.stringify(body)).digest("hex")}`;
  const entry = { ...body, hash };
  appended.push(entry);
  return entry;
}

/** Lets real I/O and promises run for a while without moving virtual time. */
async function settle(ms = 80): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) await new Promise((r) => setImmediate(r));
}

/** Waits (real time, up to 10 s) until `done()`, without moving virtual time. */
async function until(done: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  while (!done() && Date.now() < giveUpAt) await new Promise((r) => setImmediate(r));
  expect(done()).toBe(true);
}

/** Runs every virtual-time action due at or before `t` (the clock stops at the last one run). */
async function advanceTo(t: number): Promise<void> {
  await settle();
  scheduler.maxFrames = t;
  scheduler.flush();
  await settle();
}

/** A batching sink that records each call's seqs and the virtual time it came at. */
function batchSink() {
  const calls: Array<{ seqs: number[]; at: number }> = [];
  const sink: DeliverySink<ChainEntry> = {
    submit: async (r) => {
      calls.push({ seqs: [r.seq], at: scheduler.now() });
    },
    submitBatch: async (rs) => {
      calls.push({ seqs: rs.map((r) => r.seq), at: scheduler.now() });
    },
  };
  return { calls, sink };
}

function recorder(loop: { events$: import("rxjs").Observable<DeliveryEvent<ChainEntry>> }) {
  const events: DeliveryEvent<ChainEntry>[] = [];
  loop.events$.subscribe((e) => events.push(e));
  return events;
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-livebatch-"));
  journal = await openJournal({ dir });
  scheduler = new VirtualTimeScheduler(undefined, 0);
  appended = [];
});
afterEach(async () => {
  await journal.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("createDeliveryLoop live batching", { timeout: 30_000 }, () => {
  test("behavior: records arriving one by one are held up to maxBatchDelayMs from the first, then go in one call", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({
      journal,
      sink,
      maxBatch: 10,
      maxBatchDelayMs: 1000,
      scheduler,
    });
    loop.start();
    await journal.append(next());
    await advanceTo(400);
    await journal.append(next());
    await advanceTo(700);
    await journal.append(next());
    await advanceTo(999);
    expect(calls).toEqual([]); // still within the delay
    await advanceTo(1000);
    expect(calls).toEqual([{ seqs: [0, 1, 2], at: 1000 }]);
    await until(() => journal.state().ackedThrough === 2);
    // The next record starts a new wait from when it is found.
    await journal.append(next());
    await advanceTo(1500);
    expect(calls).toHaveLength(1);
    await advanceTo(2000);
    expect(calls).toEqual([
      { seqs: [0, 1, 2], at: 1000 },
      { seqs: [3], at: 2000 },
    ]);
    await loop.stop();
  });

  test("behavior: a full batch goes at once, without waiting", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({
      journal,
      sink,
      maxBatch: 4,
      maxBatchDelayMs: 60_000,
      scheduler,
    });
    loop.start();
    for (let i = 0; i < 6; i++) await journal.append(next());
    await advanceTo(0);
    expect(calls[0]).toEqual({ seqs: [0, 1, 2, 3], at: 0 });
    // The remaining two are held, then go when the delay ends.
    await advanceTo(59_999);
    expect(calls).toHaveLength(1);
    await advanceTo(60_000);
    expect(calls[1]).toEqual({ seqs: [4, 5], at: 60_000 });
    await loop.stop();
  });

  test("behavior: full batches that leave nothing held are followed by caughtUp", async () => {
    const { calls, sink } = batchSink();
    for (let i = 0; i < 8; i++) await journal.append(next());
    const loop = createDeliveryLoop({
      journal,
      sink,
      maxBatch: 4,
      maxBatchDelayMs: 60_000,
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await until(() => events.some((e) => e.type === "caughtUp"));
    expect(calls).toEqual([
      { seqs: [0, 1, 2, 3], at: 0 },
      { seqs: [4, 5, 6, 7], at: 0 },
    ]);
    expect(events.find((e) => e.type === "caughtUp")).toMatchObject({ ackedThrough: 7 });
    await loop.stop();
  });

  test("behavior: never past a billing-period end — a record flushAfter marks goes at once with those before it", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({
      journal,
      sink,
      maxBatch: 100,
      maxBatchDelayMs: 3_600_000,
      flushAfter: (r) => r.note === "period end",
      scheduler,
    });
    loop.start();
    await journal.append(next());
    await journal.append(next());
    await advanceTo(10);
    expect(calls).toEqual([]);
    await journal.append(next("period end"));
    await advanceTo(20);
    // Virtual time did not move (nothing was due): delivered at once.
    expect(calls).toEqual([{ seqs: [0, 1, 2], at: 0 }]);
    await loop.stop();
  });

  test("behavior: stop delivers the held records before it resolves", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({
      journal,
      sink,
      maxBatch: 100,
      maxBatchDelayMs: 5_000,
      scheduler,
    });
    const events = recorder(loop);
    loop.start();
    await journal.append(next());
    await journal.append(next());
    await advanceTo(100);
    expect(calls).toEqual([]);
    await loop.stop();
    expect(calls).toEqual([{ seqs: [0, 1], at: 0 }]);
    expect(journal.state().ackedThrough).toBe(1); // stop resolved after the acknowledgement
    expect(events.filter((e) => e.type === "batchDelivered")).toMatchObject([{ from: 0, to: 1 }]);
  });

  test("default: records are held 2 s for a fuller batch, then go in one call", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({ journal, sink, scheduler });
    loop.start();
    await journal.append(next());
    await journal.append(next());
    await advanceTo(1999);
    expect(calls).toEqual([]);
    await advanceTo(2000);
    expect(calls).toEqual([{ seqs: [0, 1], at: 2000 }]);
    await loop.stop();
  });

  test("behavior: maxBatchDelayMs 0 delivers at once; maxBatch 1 never holds either", async () => {
    for (const options of [{ maxBatchDelayMs: 0 }, { maxBatch: 1, maxBatchDelayMs: 5_000 }]) {
      const now = batchSink();
      const l = createDeliveryLoop({ journal, sink: now.sink, scheduler, ...options });
      l.start();
      await journal.append(next());
      await advanceTo(scheduler.now());
      await until(() => now.calls.length === 1);
      expect(now.calls, JSON.stringify(options)).toEqual([
        { seqs: [appended.length - 1], at: scheduler.now() },
      ]);
      await l.stop();
    }
  });

  test("behavior: flush() sends the held records without the clock moving; later ones are held again", async () => {
    const { calls, sink } = batchSink();
    const loop = createDeliveryLoop({ journal, sink, maxBatchDelayMs: 60_000, scheduler });
    loop.start();
    await journal.append(next());
    await journal.append(next());
    await advanceTo(10);
    expect(calls).toEqual([]);
    // A draining gateway: nothing more will come and its clock may stand still.
    loop.flush();
    await until(() => journal.state().ackedThrough === 1);
    expect(calls).toEqual([{ seqs: [0, 1], at: 0 }]);
    expect(loop.running).toBe(true);
    await journal.append(next());
    // Held again (the virtual clock still reads 0: nothing was due to move it).
    await advanceTo(59_999);
    expect(calls).toHaveLength(1);
    await advanceTo(60_000);
    expect(calls[1]).toEqual({ seqs: [2], at: 60_000 });
    await loop.stop();
  });

  test("attack: flush() or stop() while the loop reads the held records (no hold yet to wake) still sends them at once", async () => {
    for (const how of ["flush", "stop"] as const) {
      const { calls, sink } = batchSink();
      let poke = false;
      const loop = createDeliveryLoop({
        journal,
        sink,
        maxBatchDelayMs: 3_600_000,
        scheduler,
        // Called while the loop reads the held records: the moment it is not yet holding.
        flushAfter: () => {
          if (poke) {
            poke = false;
            if (how === "flush") loop.flush();
            else void loop.stop();
          }
          return false;
        },
      });
      loop.start();
      const first = appended.length;
      poke = true;
      await journal.append(next());
      await until(() => calls.length === 1);
      expect(calls, how).toEqual([{ seqs: [first], at: scheduler.now() }]);
      await loop.stop();
    }
  });

  test("error: invalid maxBatchDelayMs", () => {
    for (const maxBatchDelayMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let caught: unknown;
      try {
        createDeliveryLoop({ journal, sink: { submit: async () => {} }, maxBatchDelayMs });
      } catch (err) {
        caught = err;
      }
      expect(isMaaskitError(caught, "metering.journal.invalidConfig")).toBe(true);
      expect((caught as MaaskitError).details.problems).toEqual([
        "maxBatchDelayMs must be a finite number >= 0",
      ]);
    }
  });
});
