import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCactusLedger, startEvmLedger } from "@maaskit/gateway";
import { dec, type Reading, runCli } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DemoOptions, type DemoResult, runDemo } from "../src/demo.js";

const DAY = 86_400_000;
const start = new Date("2025-03-02T23:00:00.000Z"); // 2025-03-03 00:00 Europe/Berlin, a Monday
const ledgers: [string, DemoOptions["ledger"]][] = [
  ["embedded", undefined],
  // A real anvil node from npm, the maaskit contracts deployed by the test, an ERC-20 token.
  ["evm (anvil)", async (_dir, clock) => startEvmLedger({ clock })],
  // Through a Hyperledger Cactus PluginRegistry (the embedded ledger as the connector plugin).
  ["cactus", async (dir, clock) => startCactusLedger({ dir, clock })],
];

describe.each(
  ledgers,
)("compressor pay-per-volume, end to end on the %s ledger", (_name, ledger) => {
  let outDir: string;
  let result: DemoResult;
  const volumeReadings: { at: number; value: Decimal }[] = [];
  /** Delivered m³ per instant, from the simulator's model (not from what the gateway read). */
  let groundTruthAt: (t: number) => Decimal;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), "maaskit-e2e-"));
    result = await runDemo({
      start,
      spanMs: 3 * DAY,
      accelerate: 43_200,
      billing: { kind: "days", days: 1, timeZone: "Europe/Berlin" },
      windowSize: "1h",
      outDir,
      filterLifeVolume: 6_000,
      serviceRunHours: "30",
      ...(ledger ? { ledger } : {}),
      log: process.env.E2E_LOG ? (e) => console.log(JSON.stringify(e)) : () => {},
      onReading: (r: Reading) => {
        if (r.channel === "volume" && r.quality === "good") {
          volumeReadings.push({ at: r.sourceTime.getTime(), value: r.value as Decimal });
        }
      },
      onGroundTruth: (fn) => {
        groundTruthAt = fn;
      },
    });
  }, 240_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  /** The last volume reading at or before `t`: the register value a window boundary sees. */
  function lastReadingAtOrBefore(t: number) {
    return volumeReadings.filter((r) => r.at <= t).at(-1);
  }

  /** The demo tariff applied by hand: graduated 0.021 €/m³ up to 50,000 m³, then 0.018;
   * base fee 150; minimum commitment 400 on the usage charge; half-even to cents per line. */
  function priceByHand(q: Decimal) {
    const round = (x: Decimal) => x.toDecimalPlaces(2, 6 /* ROUND_HALF_EVEN */);
    const tier1 = round(Decimal_min(q, dec(50_000)).times("0.021"));
    const tier2 = round(Decimal_max(q.minus(50_000), dec(0)).times("0.018"));
    const usage = tier1.plus(tier2);
    const topUp = Decimal_max(dec(400).minus(usage), dec(0));
    return usage.plus(150).plus(topUp);
  }
  const Decimal_min = (a: Decimal, b: Decimal) => (a.lt(b) ? a : b);
  const Decimal_max = (a: Decimal, b: Decimal) => (a.gt(b) ? a : b);

  it("default: the metered volume equals the simulator's ground truth exactly", () => {
    // Three days of hourly windows (fewer if the gateway connected after the agreement start).
    expect(result.summary.records).toBeGreaterThanOrEqual(48);
    expect(result.summary.records).toBeLessThanOrEqual(73);
    expect(result.groundTruthVolume.gt(0)).toBe(true);
    expect(dec(result.summary.billedVolume).eq(result.groundTruthVolume)).toBe(true);
  });

  it("behavior: each daily invoice bills the ground-truth volume of its day at the tariff applied by hand", () => {
    expect(result.summary.invoices.length).toBeGreaterThanOrEqual(2);
    for (const inv of result.summary.invoices) {
      // The register baseline of a period: the last reading at or before its start (or the
      // gateway's first reading, if it connected later).
      const from = lastReadingAtOrBefore(inv.period.start.getTime()) ?? volumeReadings[0]!;
      const to = lastReadingAtOrBefore(inv.period.end.getTime())!;
      const delivered = groundTruthAt(to.at).minus(groundTruthAt(from.at));
      expect(inv.usage.value.eq(delivered)).toBe(true);
      expect(inv.total.eq(priceByHand(delivered))).toBe(true);
    }
  });

  it("behavior: every work order was paid exactly once (or awaits its confirmation at the end)", () => {
    // The run stops at a fixed instant: a filter changed in its last minutes may still wait for
    // the machine data that confirms it. Everything else must be paid, and nothing twice.
    const paid = result.workOrders.filter((w) => w.state === "paid");
    expect(paid.length).toBeGreaterThanOrEqual(1);
    expect(result.workOrders.length).toBeGreaterThanOrEqual(2);
    for (const w of result.workOrders) expect(["paid", "completed"]).toContain(w.state);
    expect(result.workOrders.filter((w) => w.state === "completed").length).toBeLessThanOrEqual(1);
    const history = readFileSync(result.summary.files.history!, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; payload: { workOrderId?: string } });
    for (const w of result.workOrders) {
      expect(
        history.filter((e) => e.type === "workOrder.paid" && e.payload.workOrderId === w.id),
      ).toHaveLength(w.state === "paid" ? 1 : 0);
    }
  });

  it("behavior: the exported records and history verify with maaskit verify", async () => {
    const io = { stdout: () => {}, stderr: () => {} };
    expect(
      await runCli(["verify", result.summary.files.records, "--signer", result.signer], io),
    ).toBe(0);
    expect(
      await runCli(["verify", result.summary.files.history!, "--signer", result.signer], io),
    ).toBe(0);
    expect(result.summary.verification.invalid).toBe(0);
  });
});
