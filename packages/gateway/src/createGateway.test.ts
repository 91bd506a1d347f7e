import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MeterRecord, meterRecordCodec, openJournal } from "@maaskit/metering";
import { embeddedLedger, type LedgerBackend } from "@maaskit/settlement";
import { Decimal } from "decimal.js";
import { from, VirtualTimeScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { createGateway } from "./createGateway.js";
import type { CreateGatewayParameters } from "./gatewayTypes.js";
import {
  advanceTo,
  feed,
  runUntil,
  startTestGateway,
  switchableLedger,
  testAgreement,
  testProfile,
  testSigner,
  volume,
  volumeSeries,
} from "./testSupport.js";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let dir: string;
let scheduler: VirtualTimeScheduler;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-gateway-"));
  scheduler = new VirtualTimeScheduler();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function realLedger() {
  return embeddedLedger({ dir: join(dir, "ledger") });
}

const start = (ledger: LedgerBackend, extra: Partial<CreateGatewayParameters> = {}) =>
  startTestGateway({ ledger, dataDir: join(dir, "data"), scheduler, ...extra });

/** One reading every 15 min over the first day and one hour into the next: +2.5 m³ each. */
const dayOne = () => volumeSeries(T0, T0 + DAY + HOUR, 15 * 60_000, "1000", "2.5");

describe("createGateway", () => {
  test("default: one day of readings gives 24 hourly records and one invoice for the exact register difference", async () => {
    const { ledger } = switchableLedger(realLedger());
    const { gateway, invoices, records } = await start(ledger);
    const source = feed(gateway, records);
    for (const r of dayOne()) source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    const day = records.filter((r) => r.periodEnd.getTime() <= T0 + DAY);
    expect(day).toHaveLength(24);
    // 96 steps of 2.5 m³ between 00:00 and 24:00, baseline = the reading at the agreement start.
    expect(invoices[0]!.usage.value.toFixed()).toBe("240");
    expect(invoices[0]!.period.start.getTime()).toBe(T0);
    // A subscriber after createGateway still sees the start-up events.
    const seen: string[] = [];
    gateway.events$.subscribe((e) => seen.push(e.type)).unsubscribe();
    expect(seen[0]).toBe("agreement.opened");
    await gateway.stop();
  });

  test("behavior: events$ reports each reading the gateway consumes, each record, and each record the ledger acknowledged (by seq), so a dashboard or supervisor can follow progress", async () => {
    const { ledger } = switchableLedger(realLedger());
    const { gateway, invoices, records, events } = await start(ledger);
    const source = feed(gateway, records);
    const readings = dayOne();
    for (const r of readings) source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    const seen = events.filter((e) => e.type === "reading");
    expect(seen).toHaveLength(readings.length);
    expect(seen.map((e) => (e.type === "reading" ? e.reading : undefined))).toEqual(readings);
    const recordSeqs = events.flatMap((e) => (e.type === "record" ? [e.record.seq] : []));
    expect(recordSeqs).toEqual(records.map((r) => r.seq));
    const acked = events.flatMap((e) => (e.type === "record.acknowledged" ? [e.seq] : []));
    // every record of the settled day acknowledged, each once, in order
    const daySeqs = records.filter((r) => r.periodEnd.getTime() <= T0 + DAY).map((r) => r.seq);
    expect(acked.slice(0, daySeqs.length)).toEqual(daySeqs);
    expect(new Set(acked).size).toBe(acked.length);
    await gateway.stop();
  });

  test("behavior: a ledger outage far longer than any timeout — the period is settled once the ledger is back, exactly once, without a restart", async () => {
    const { ledger, state } = switchableLedger(realLedger());
    const { gateway, invoices, records, events } = await start(ledger);
    state.down = true;
    const source = feed(gateway, records);
    for (const r of dayOne()) source.next(r);
    await runUntil(scheduler, () => records.length >= 24);
    // 12 hours of virtual time with the ledger unreachable (the old gateway gave up after 60 s).
    await advanceTo(scheduler, scheduler.now() + 12 * HOUR, 60_000);
    expect(invoices).toHaveLength(0);
    expect(gateway.health().ledger).toBe("unavailable");
    expect(gateway.health().unacknowledged).toBe(records.length);
    expect(gateway.settler.due()).toHaveLength(1);
    expect(events.some((e) => e.type === "delivery.retrying")).toBe(true);

    state.down = false;
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    // Keep running: nothing settles the period a second time.
    await advanceTo(scheduler, scheduler.now() + 2 * HOUR, 60_000);
    expect(invoices).toHaveLength(1);
    expect(invoices[0]!.usage.value.toFixed()).toBe("240");
    expect(await ledger.getInvoices(gateway.agreement.agreementId)).toHaveLength(1);
    expect(gateway.settler.due()).toHaveLength(0);
    expect(gateway.health()).toMatchObject({ ledger: "ok", unacknowledged: 0 });
    await gateway.stop();
  });

  test("behavior: the ledger settles but its reply is lost — the retry finds the invoice, no second settlement", async () => {
    const { ledger, state } = switchableLedger(realLedger());
    const { gateway, invoices, records, events } = await start(ledger);
    state.loseNextSettleReply = true;
    const source = feed(gateway, records);
    for (const r of dayOne()) source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    expect(events.filter((e) => e.type === "period.alreadySettled")).toHaveLength(1);
    expect(await ledger.getInvoices(gateway.agreement.agreementId)).toHaveLength(1);
    await gateway.stop();
  });

  test("behavior: restart mid-settlement — the period the crashed run could not settle is settled by the next run, once", async () => {
    const real = realLedger();
    const first = switchableLedger(real);
    const run1 = await start(first.ledger, { drainTimeoutMs: 30_000 });
    first.state.settleDown = true;
    const source = feed(run1.gateway, run1.records);
    for (const r of dayOne()) source.next(r);
    await runUntil(
      scheduler,
      () => run1.gateway.health().unacknowledged === 0 && run1.records.length >= 24,
    );
    // Records are on the ledger; the settlement call fails (the ledger went away mid-way)
    // and the run is stopped before a retry could succeed.
    await runUntil(scheduler, () => run1.events.some((e) => e.type === "period.retrying"));
    const stopping = run1.gateway.stop();
    await runUntil(scheduler, () => run1.events.some((e) => e.type === "stopped"));
    await stopping;
    expect(run1.invoices).toHaveLength(0);
    expect(run1.events.some((e) => e.type === "stop.drainTimedOut")).toBe(true);

    // The next run, same data dir, ledger back: catches up on start.
    const second = switchableLedger(real);
    const run2 = await start(second.ledger);
    expect(await runUntil(scheduler, () => run2.invoices.length === 1)).toBe(true);
    expect(run2.invoices[0]!.usage.value.toFixed()).toBe("240");
    // A third run finds it settled and settles nothing.
    await run2.gateway.stop();
    const third = switchableLedger(real);
    const run3 = await start(third.ledger);
    await advanceTo(scheduler, scheduler.now() + HOUR, 60_000);
    expect(third.state.settleCalls).toBe(0);
    expect(run3.invoices).toHaveLength(0);
    expect(await real.getInvoices(run3.gateway.agreement.agreementId)).toHaveLength(1);
    await run3.gateway.stop();
  });

  test("behavior: restart after the ledger settled but before the gateway heard of it — no second invoice", async () => {
    const real = realLedger();
    const first = switchableLedger(real);
    const run1 = await start(first.ledger, { drainTimeoutMs: 5_000 });
    first.state.loseNextSettleReply = true;
    first.state.down = false;
    const source = feed(run1.gateway, run1.records);
    for (const r of dayOne()) source.next(r);
    // Stop as soon as the (lost) settlement reply arrives: the ledger holds the invoice.
    await runUntil(scheduler, () => run1.events.some((e) => e.type === "period.retrying"));
    first.state.down = true;
    const stopping = run1.gateway.stop();
    await runUntil(scheduler, () => run1.events.some((e) => e.type === "stopped"));
    await stopping;
    expect(run1.invoices).toHaveLength(0);
    expect(await real.getInvoices(run1.gateway.agreement.agreementId)).toHaveLength(1);

    const second = switchableLedger(real);
    const run2 = await start(second.ledger);
    await advanceTo(scheduler, scheduler.now() + HOUR, 60_000);
    expect(second.state.settleCalls).toBe(0);
    expect(await real.getInvoices(run2.gateway.agreement.agreementId)).toHaveLength(1);
    await run2.gateway.stop();
  });

  test("behavior: stop while a batch is in flight waits for it, acknowledges it and settles the complete period", async () => {
    const { ledger, state } = switchableLedger(realLedger());
    let release!: () => void;
    state.gate = new Promise<void>((r) => {
      release = r;
    });
    const { gateway, invoices, records } = await start(ledger);
    const source = feed(gateway, records);
    for (const r of dayOne()) source.next(r);
    await runUntil(scheduler, () => records.length >= 24 && state.submitCalls >= 1);
    let stopped = false;
    const stopping = gateway.stop().then((h) => {
      stopped = true;
      return h;
    });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    state.gate = undefined;
    release();
    const final = await stopping;
    // The open window of the second day was closed by stop(): its record is journaled too.
    const journal = await openJournal({
      dir: join(dir, "data", "journal"),
      codec: meterRecordCodec,
    });
    const all: MeterRecord[] = [];
    for await (const r of journal.read(0)) all.push(r);
    expect(final.unacknowledged).toBe(0);
    expect(journal.state().ackedThrough).toBe(all.length - 1);
    expect(all.length).toBe(records.length);
    expect(invoices).toHaveLength(1);
    await journal.close();
  });

  test("behavior: live batching holds records for a fuller batch; stop() sends the held ones at once, without the clock moving", async () => {
    const { ledger, state } = switchableLedger(realLedger());
    const { gateway, records } = await start(ledger, {
      delivery: { maxBatchDelayMs: 3_600_000, random: () => 0 },
    });
    const source = feed(gateway, records);
    // Three hourly windows, none ending the day. The first record goes at once (the client
    // does not know the agreement's periods yet); the next two are held (one hour of hold).
    for (const r of volumeSeries(T0, T0 + 3.25 * HOUR, 15 * 60_000, "1000", "2.5")) {
      source.next(r);
    }
    await runUntil(scheduler, () => records.length >= 3, 60_000);
    await runUntil(scheduler, () => gateway.health().ackedThrough === 0, 60_000);
    expect(gateway.health().unacknowledged).toBe(2);
    const calls = state.submitCalls;
    const clock = scheduler.now();
    const final = await gateway.stop();
    expect(scheduler.now()).toBe(clock);
    expect(final.unacknowledged).toBe(0);
    // One call for the held records (and the window stop() closed), not one each.
    expect(state.submitCalls - calls).toBe(1);
  });

  test("behavior: the gateway connects after the agreement start — the unobserved time is recorded as empty records, reported, not billed", async () => {
    const { ledger } = switchableLedger(realLedger());
    const { gateway, records, events, invoices } = await start(ledger);
    const source = feed(gateway, records);
    // First reading at 05:10; day one ends at 24:00.
    for (const r of volumeSeries(
      T0 + 5 * HOUR + 10 * 60_000,
      T0 + DAY + HOUR,
      15 * 60_000,
      "500",
      "1",
    ))
      source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    expect(events.find((e) => e.type === "baseline.late")).toMatchObject({
      firstReadingAt: new Date(T0 + 5 * HOUR + 10 * 60_000),
    });
    const empty = records.filter((r) => r.periodEnd.getTime() <= T0 + 5 * HOUR);
    expect(empty.length).toBe(1);
    expect(empty[0]!.periodStart.getTime()).toBe(T0);
    expect(empty[0]!.quantity.value.isZero()).toBe(true);
    expect(empty[0]!.flags).toMatchObject({ gap: true, unobserved: true });
    // Observed windows are not flagged.
    expect(records.filter((r) => r.flags.unobserved === true)).toHaveLength(1);
    await gateway.stop();
  });

  test("behavior: without acceptAsCustomer the gateway only offers the agreement — nothing is accepted or settled until the customer accepts, then everything is, once", async () => {
    const real = realLedger();
    const { ledger } = switchableLedger(real);
    const { gateway, invoices, events, records } = await start(ledger, {
      acceptAsCustomer: false,
    });
    const source = feed(gateway, records);
    for (const r of dayOne()) source.next(r);
    const refused = () =>
      events.filter(
        (e) => e.type === "delivery.retrying" && e.error.includes("settlement.agreement.notActive"),
      ).length;
    expect(await runUntil(scheduler, () => refused() >= 5)).toBe(true);
    expect(invoices).toHaveLength(0);
    expect(gateway.health().ackedThrough).toBe(-1);
    await real.acceptAgreement({
      agreementId: testAgreement().agreementId,
      by: testAgreement().parties.customer,
    });
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    expect(invoices[0]!.usage.value.toFixed()).toBe("240");
    source.complete();
    await gateway.stop();
    expect(invoices).toHaveLength(1);
  });

  test("behavior: a configured baseline (register read at the agreement start) bills the usage before the first reading", async () => {
    const { ledger } = switchableLedger(realLedger());
    const { gateway, invoices, records } = await start(ledger, {
      baseline: { register: "400", at: new Date(T0) },
    });
    from([volume(T0 + 5 * HOUR + 10 * 60_000, "500"), volume(T0 + DAY + HOUR, "600")])
      .pipe(gateway.meter())
      .subscribe((r) => records.push(r));
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    // 400 → 500 bridged over the unobserved morning, 500 → 600 up to 25:00, of which the day
    // holds the part up to the last reading before midnight: 100 m³.
    expect(invoices[0]!.usage.value.toFixed()).toBe("100");
    expect(records.some((r) => r.flags.bridged === true)).toBe(true);
    await gateway.stop();
  });

  test("error: a profile whose billed register reads another unit than the tariff bills", async () => {
    const { ledger } = switchableLedger(realLedger());
    await expect(
      createGateway({
        agreement: testAgreement(),
        ledger,
        signer: testSigner,
        dataDir: join(dir, "data"),
        profile: {
          ...testProfile,
          channels: { volume: { kind: "register", nodeId: "x", unit: "LTR" } },
        },
      }),
    ).rejects.toMatchObject({ code: "gateway.profile.unitMismatch" });
  });

  test("behavior: the agreement's term ends — nothing after it is recorded or billed, the last period settles, the end is reported once", async () => {
    const { ledger } = switchableLedger(realLedger());
    const termEnd = T0 + DAY;
    const { gateway, invoices, records, events } = await start(ledger, {
      agreement: testAgreement(new Date(T0).toISOString(), new Date(termEnd).toISOString()),
    });
    const source = feed(gateway, records);
    // The machine keeps running (and the gateway reading) four hours past the term.
    for (const r of volumeSeries(T0, termEnd + 4 * HOUR, 15 * 60_000, "1000", "2.5"))
      source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    source.complete();
    await advanceTo(scheduler, scheduler.now() + 2 * HOUR, 60_000);
    expect(records).toHaveLength(24);
    expect(records.every((r) => r.periodEnd.getTime() <= termEnd)).toBe(true);
    expect(invoices[0]!.usage.value.toFixed()).toBe("240");
    expect(events.filter((e) => e.type === "term.ended")).toEqual([
      {
        type: "term.ended",
        termEnd: new Date(termEnd),
        window: { start: new Date(termEnd), end: new Date(termEnd + HOUR) },
      },
    ]);
    // The ledger refused nothing (a record past the term would halt delivery for good).
    expect(events.some((e) => e.type === "delivery.failed")).toBe(false);
    const final = await gateway.stop();
    expect(final).toMatchObject({ unacknowledged: 0, ledger: "ok", duePeriods: 0 });
  });

  test("behavior: the gateway observes nothing more before the term ends — the rest of the term is closed with empty windows, the period settles exactly the records' usage", async () => {
    const { ledger } = switchableLedger(realLedger());
    const termEnd = T0 + DAY;
    const { gateway, invoices, records, events } = await start(ledger, {
      agreement: testAgreement(new Date(T0).toISOString(), new Date(termEnd).toISOString()),
    });
    const source = feed(gateway, records);
    // Readings up to 10:00, then nothing until two hours after the term end.
    for (const r of volumeSeries(T0, T0 + 10 * HOUR, 15 * 60_000, "1000", "2.5")) source.next(r);
    for (const r of volumeSeries(termEnd + 2 * HOUR, termEnd + 4 * HOUR, 15 * 60_000, "1500", "1"))
      source.next(r);
    expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
    expect(records.at(-1)!.periodEnd.getTime()).toBe(termEnd);
    expect(records.every((r) => r.periodEnd.getTime() <= termEnd)).toBe(true);
    // 40 readings of +2.5 m³ up to 10:00, then empty windows to the term end.
    expect(records).toHaveLength(24);
    expect(records.slice(10).every((r) => r.quantity.value.isZero())).toBe(true);
    const sum = records.reduce((s, r) => s.plus(r.quantity.value), new Decimal(0));
    expect(sum.toFixed()).toBe("100");
    expect(invoices[0]!.usage.value.eq(sum)).toBe(true);
    // The register moved 400 m³ over the outage across the term end: its split across the
    // term end is unknown, so none of it is billed; the term's end is reported once.
    expect(events.filter((e) => e.type === "term.ended")).toHaveLength(1);
    expect(events.some((e) => e.type === "delivery.failed")).toBe(false);
    await gateway.stop();
  });
});
