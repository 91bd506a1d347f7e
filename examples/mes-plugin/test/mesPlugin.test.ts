import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  compressorModel,
  compressorStates,
  counterDelta,
  Dec,
  dec,
  fromSimulatedCompressor,
  isMaaskitError,
  loadSigner,
  type MeterWindow,
  machineState,
  meterRecordDigest,
  meterRecordToJson,
  type OeeResult,
  type OeeTimeElements,
  oee,
  signMeterRecord,
  tumblingWindow,
  type UnsignedMeterRecord,
} from "@maaskit/metering";
import { invoiceToJson, priceRecords } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { filter, lastValueFrom, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FastForwardScheduler } from "../src/fastForwardScheduler.js";
import { measureImportCost } from "../src/importCost.js";
import { createMesPlugin } from "../src/plugin.js";
import { type DemoRun, nightsOff, runDemo } from "../src/runDemo.js";

const HOUR = 3_600_000;
let dir: string;
let run: DemoRun;
let recordsText: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "maaskit-mes-test-"));
  run = await runDemo({ dir, days: 2, sampleSeconds: 1 });
  recordsText = await readFile(run.recordsFile, "utf8");
});

afterAll(async () => {
  await run?.close();
  await rm(dir, { recursive: true, force: true });
});

const ELEMENTS: (keyof OeeTimeElements)[] = [
  "pot",
  "pdot",
  "pbt",
  "apt",
  "aust",
  "adet",
  "adot",
  "microStop",
  "unobserved",
];

function sumElements(windows: readonly MeterWindow<OeeResult>[]): OeeTimeElements {
  const sum = Object.fromEntries(ELEMENTS.map((k) => [k, 0n])) as Record<
    keyof OeeTimeElements,
    bigint
  >;
  for (const w of windows) for (const k of ELEMENTS) sum[k] += w.oee!.timeElements[k];
  return sum;
}

const groundTruth = (from: Date, to: Date): Decimal =>
  run.model.groundTruthVolumeAt(to).minus(run.model.groundTruthVolumeAt(from));

describe("mes-plugin", () => {
  it("default: per-shift OEE is the sum of the windows' ISO 22400 time elements", () => {
    const shifts = run.rollUps.filter((r) => r.kind === "shift");
    // 00:00–06:00 (partial), then 06–14, 14–22, 22–06 on both days, the last one partial.
    expect(shifts.map((s) => s.start.toISOString().slice(5, 16))).toEqual([
      "01-05T22:00",
      "01-06T06:00",
      "01-06T14:00",
      "01-06T22:00",
      "01-07T06:00",
      "01-07T14:00",
      "01-07T22:00",
    ]);
    expect(shifts.map((s) => s.complete)).toEqual([false, true, true, true, true, true, false]);
    for (const s of [...shifts, ...run.rollUps.filter((r) => r.kind === "day")]) {
      const mine = run.windows.filter((w) => w.start >= s.start && w.end <= s.end);
      expect(s.windows).toBe(mine.length);
      const sum = sumElements(mine);
      expect(s.result.timeElements).toEqual(sum);
      // Availability = Σ APT / Σ PBT, computed once from the sums.
      if (sum.pbt > 0n) {
        const a = s.result.availability;
        expect(a.defined && a.value.eq(dec(sum.apt.toString()).div(sum.pbt.toString()))).toBe(true);
      } else expect(s.result.availability).toEqual({ defined: false, reason: "pbt.zero" });
    }
    // Hand check of a day shift: 8 h planned busy, nothing unobserved; sampled every simulated
    // second, APT is exactly the loaded time, so PRI × PQ (8 s per m³ at 7.5 m³/min) equals it.
    const early = shifts[1]!.result;
    expect(early.timeElements.pbt).toBe(8n * BigInt(HOUR));
    expect(early.timeElements.unobserved).toBe(0n);
    expect(early.idealProductionTimeMs.eq(dec(early.timeElements.apt.toString()))).toBe(true);
    expect(early.effectiveness.defined && early.effectiveness.value.eq(1)).toBe(true);
    // Night shifts are planned down time (the calendar): no PBT, availability undefined.
    expect(shifts[3]!.result.timeElements.pdot).toBe(8n * BigInt(HOUR));
  });

  it("behavior: the roll-up equals OEE metered directly in 8-hour windows", async () => {
    // The same run (same seed, bit for bit) metered in shift-long windows: the elements of
    // every complete shift must equal the roll-up of its 15-minute windows.
    const scheduler = new FastForwardScheduler();
    const direct = lastValueFrom(
      fromSimulatedCompressor(
        {
          model: compressorModel({
            seed: 1,
            startTime: run.start,
            initialRegister: "99997500",
            registerModulus: "100000000",
          }),
          machineId: run.agreement.machineId,
          channels: ["volume", "state"],
          until: run.end,
        },
        scheduler,
      ).pipe(
        machineState({ mapping: compressorStates }),
        counterDelta({
          channel: "volume",
          unit: "MTQ",
          basis: "ISO1217-FAD",
          rollover: "100000000",
          capacity: { value: "7.5", per: "min" },
        }),
        tumblingWindow({ size: { hours: 8 }, offsetMinutes: 360 }),
        oee({
          idealCycleTimeMs: "8000",
          calendar: nightsOff,
          counts: { produced: "volume", good: "volume", unit: "MTQ" },
        }),
        filter((e): e is MeterWindow<OeeResult> => e.kind === "window"),
        toArray(),
      ),
    );
    scheduler.flush();
    const byStart = new Map((await direct).map((w) => [w.start.getTime(), w]));
    const complete = run.rollUps.filter((r) => r.kind === "shift" && r.complete);
    expect(complete.length).toBe(5);
    for (const s of complete) {
      const w = byStart.get(s.start.getTime());
      expect(w?.end).toEqual(s.end);
      expect(s.result.timeElements).toEqual(w!.oee!.timeElements);
      expect(s.result.producedQuantity.value.eq(w!.oee!.producedQuantity.value)).toBe(true);
    }
  });

  it("behavior: usage equals the simulator's ground truth exactly, window by window", () => {
    expect(run.usage.length).toBe(192);
    let total = dec(0);
    for (const u of run.usage) {
      expect(u.quantity.unit).toBe("MTQ");
      expect(u.quantity.basis).toBe("ISO1217-FAD");
      expect(u.quantity.value.eq(groundTruth(u.start, u.end))).toBe(true);
      total = total.plus(u.quantity.value);
    }
    expect(total.eq(groundTruth(run.start, run.end))).toBe(true);
    expect(total.gt(0)).toBe(true);
    // The register started 2,500 m³ below its modulus: exactly one window saw the wrap.
    expect(run.usage.filter((u) => u.flags.rollover === true).length).toBe(1);
    expect(run.quarantined).toEqual([]);
  });

  it("behavior: exported records verify; a tampered record is rejected naming seq and reason", async () => {
    const ok = await run.plugin.verifyRecords(recordsText);
    expect(ok.valid).toBe(true);
    expect(ok.records.length).toBe(192);
    expect(ok.verdicts.every((v, i) => v.valid && v.seq === i && v.line === i + 1)).toBe(true);

    // Bill 1 m³ less in seq 40, register adjusted to match: only the signature can tell.
    const lines = recordsText.trimEnd().split("\n");
    const json = JSON.parse(lines[40]!);
    json.quantity.value = dec(json.quantity.value).minus(1).toFixed();
    json.register.end = dec(json.register.end).minus(1).toFixed();
    const tampered = [...lines];
    tampered[40] = JSON.stringify(json);
    const bad = await run.plugin.verifyRecords(tampered.join("\n"));
    expect(bad.valid).toBe(false);
    const invalid = bad.verdicts.filter((v) => !v.valid);
    expect(invalid.map((v) => [v.seq, v.reasons])).toEqual([
      [40, ["metering.record.badSignature"]],
      [41, ["metering.record.brokenChain", "metering.record.registerDiscontinuity"]],
    ]);
    expect(bad.records.length).toBe(190);

    // A record removed from the file: the next one reports the hole (the removed window
    // delivered air, so the registers do not join up either).
    expect(run.records[100]!.quantity.value.gt(0)).toBe(true);
    const removed = [...lines.slice(0, 100), ...lines.slice(101)];
    const gap = await run.plugin.verifyRecords(removed.join("\n"));
    expect(gap.verdicts.filter((v) => !v.valid).map((v) => [v.seq, v.reasons])).toEqual([
      [
        101,
        [
          "metering.record.seqGap",
          "metering.record.brokenChain",
          "metering.record.periodGap",
          "metering.record.registerDiscontinuity",
        ],
      ],
    ]);
  });

  it("behavior: a record signed by a key the agreement does not name is rejected", async () => {
    const keyFile = join(dir, "keys", "stranger.key");
    await writeFile(keyFile, `0x${"c3".repeat(32)}`);
    const stranger = await loadSigner({ keyFile });
    const { signer: _s, signature: _sig, ...unsigned } = run.records[191]!;
    const forged = await signMeterRecord(unsigned as UnsignedMeterRecord, { signer: stranger });
    const lines = recordsText.trimEnd().split("\n");
    lines[191] = JSON.stringify(meterRecordToJson(forged));
    const out = await run.plugin.verifyRecords(lines.join("\n"));
    expect(out.verdicts.filter((v) => !v.valid).map((v) => [v.seq, v.reasons])).toEqual([
      [191, ["metering.record.wrongSigner"]],
    ]);
  });

  it("behavior: invoices read back equal priceRecords of the same records, and the tariff by hand", async () => {
    const invoices = await run.plugin.invoices();
    expect(invoices.length).toBe(2);
    for (const invoice of invoices) {
      const { start, end } = invoice.period;
      const records = run.records.filter((r) => r.periodStart >= start && r.periodEnd <= end);
      expect(records.length).toBe(96);
      // The ledger prices records with their digests and without prevHash (it checked the chain).
      const priced = priceRecords(
        run.agreement.tariff,
        records.map((r) => ({ ...r, prevHash: undefined, hash: meterRecordDigest(r) })),
        {
          period: invoice.period,
          currency: run.agreement.currency,
          agreementId: run.agreement.agreementId,
        },
      );
      expect(invoiceToJson(invoice)).toEqual(invoiceToJson(priced));
      // By hand: 4,000 m³ at 0.025, the rest at 0.019, each line rounded half-even to cents, + 12.50.
      const volume = groundTruth(start, end);
      expect(invoice.usage.value.eq(volume)).toBe(true);
      const tier0 = dec(4000).mul("0.025").toDecimalPlaces(2, Dec.ROUND_HALF_EVEN);
      const tier1 = volume.minus(4000).mul("0.019").toDecimalPlaces(2, Dec.ROUND_HALF_EVEN);
      expect(invoice.total.eq(tier0.plus(tier1).plus("12.50"))).toBe(true);
    }
  });

  it("behavior: the maintenance history verifies and its warranty holds; an edited entry is rejected", async () => {
    const good = await run.plugin.maintenanceHistory(run.historyFile, run.warranty);
    expect(good.valid).toBe(true);
    expect(good.entries.map((e) => e.type)).toEqual(["serviceRequest", "service.performed"]);
    expect(good.warranty?.compliant).toBe(true);

    const lines = (await readFile(run.historyFile, "utf8")).trimEnd().split("\n");
    const entry = JSON.parse(lines[1]!);
    entry.payload.runHours = "1.000";
    lines[1] = JSON.stringify(entry);
    const file = join(dir, "history.tampered.jsonl");
    await writeFile(file, `${lines.join("\n")}\n`);
    const bad = await run.plugin.maintenanceHistory(file, run.warranty);
    expect(bad.valid).toBe(false);
    expect(bad.verdicts.map((v) => [v.seq, v.reasons.map((r) => r.code)])).toEqual([
      [0, []],
      [1, ["metering.log.badSignature"]],
    ]);
    expect(bad.warranty).toBeUndefined();
  });

  it("behavior: importing the three main entry points loads no node-opcua or @hyperledger module", async () => {
    const [main, opcua] = await Promise.all([
      measureImportCost(["@maaskit/metering", "@maaskit/settlement", "@maaskit/maintenance"]),
      measureImportCost(["@maaskit/metering/opcua"]),
    ]);
    const names = main.packages.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining(["@maaskit/metering", "@maaskit/settlement", "@maaskit/maintenance"]),
    );
    expect(
      names.filter((n) => n.startsWith("node-opcua") || n.startsWith("@hyperledger/")),
    ).toEqual([]);
    expect(main.modules.filter((m) => /node-opcua|@hyperledger/.test(m))).toEqual([]);
    // Even the OPC UA entry point loads node-opcua-client only when first used (an optional
    // peer), while the probe does see what it loads (the entry's own modules).
    expect(opcua.packages.some((p) => p.name.startsWith("node-opcua"))).toBe(false);
    expect(opcua.packages.some((p) => p.name === "@maaskit/metering")).toBe(true);
  });

  it("error: invalid options are reported all at once", () => {
    let caught: unknown;
    try {
      createMesPlugin({
        readings$: undefined as never,
        agreement: run.agreement,
        ledger: run.ledger,
        window: { days: 1 },
        shifts: { shiftHours: 5, dayStartMinutes: -1, timeZone: "Mars/Olympus" },
        oee: { idealCycleTimeMs: "8000" },
      });
    } catch (err) {
      caught = err;
    }
    expect(isMaaskitError(caught, "mes.plugin.invalidOptions")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      "shifts.shiftHours must be a whole number of hours dividing 24, got 5",
      "shifts.dayStartMinutes must be an integer from 0 to 1439, got -1",
      'shifts.timeZone "Mars/Olympus" is not an IANA time zone',
      "window must be a fixed length in seconds, minutes or hours (e.g. { minutes: 15 })",
      "readings$ must be an Observable of metering events",
    ]);
  });
});
