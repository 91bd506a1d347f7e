import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  buildMeterRecord,
  dec,
  genesisChainState,
  type MeterRecord,
  type MeterWindow,
  nextChainState,
  type OeeResult,
  type Reading,
  signMeterRecord,
} from "@maaskit/metering";
import { parseAgreement, priceRecords } from "@maaskit/settlement";
import { Wallet } from "ethers";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard } from "../src/dashboard/server.js";
import { createDashboardFeed } from "../src/dashboardFeed.js";

const CHROMIUM = "/usr/bin/chromium";
const screenshot = resolve(__dirname, "../out/dashboard-charts.png");
const START = Date.UTC(2025, 2, 3);
const HOUR = 3_600_000;
// a fixed, public test key (never use it for anything of value)
const machine = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");

const agreement = parseAgreement({
  agreementId: `0x${"c1".repeat(32)}`,
  name: "compressor-1, pay per m³ (dashboard charts test)",
  parties: { provider: Wallet.createRandom().address, customer: Wallet.createRandom().address },
  machineId: "compressor-1",
  signers: [{ address: machine.address, validFrom: "2025-03-01T00:00:00.000Z" }],
  tariff: {
    version: 1,
    metered: { unit: "MTQ", basis: "ISO1217-FAD" },
    pricing: {
      model: "graduated",
      tiers: [{ upTo: "150", unitPrice: "0.025" }, { unitPrice: "0.019" }],
    },
    includedVolume: "40",
    baseFee: "5",
    minimumCommitment: "0",
    rounding: { mode: "halfEven", decimals: 2 },
  },
  currency: { symbol: "EUR", decimals: 2 },
  billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
  paymentTerms: { kind: "invoiced", netDays: 30 },
  start: "2025-03-01T00:00:00.000Z",
  status: "active",
});

/** Flow (m³/min), the volume register and the filter's Δp over `hours`, every 5 minutes. */
function readings(hours: number): Reading[] {
  const out: Reading[] = [];
  let register = dec(1000);
  for (let m = 0; m <= hours * 60; m += 5) {
    const at = new Date(START + m * 60_000);
    const flow = dec(8).plus(dec((m * 7) % 50).div(10));
    const r = (channel: string, value: ReturnType<typeof dec>, unit: string): Reading => ({
      kind: "reading",
      machineId: "compressor-1",
      channel,
      value,
      unit,
      quality: "good",
      sourceTime: at,
    });
    out.push(r("flow", flow, "G53"), r("volume", register, "MTQ"));
    out.push(
      r(
        "filterDp",
        dec(m)
          .div(60 * hours)
          .times("0.07")
          .toDecimalPlaces(4),
        "BAR",
      ),
    );
    register = register.plus(flow.times(5).div(10)); // a partly loaded machine
  }
  return out;
}

/** Hourly windows with the register deltas of `readings` and an OEE per window. */
async function hourlyRecords(all: Reading[], hours: number) {
  const volume = all.filter((r) => r.channel === "volume");
  const at = (t: number) =>
    volume.find((r) => r.sourceTime.getTime() === t)!.value as ReturnType<typeof dec>;
  const out: { record: MeterRecord; window: MeterWindow<OeeResult> }[] = [];
  let chain = genesisChainState();
  for (let h = 0; h < hours; h++) {
    const start = at(START + h * HOUR);
    const end = at(START + (h + 1) * HOUR);
    const ratio = (v: string) => ({ defined: true as const, value: dec(v) });
    const window = {
      kind: "window",
      machineId: "compressor-1",
      start: new Date(START + h * HOUR),
      end: new Date(START + (h + 1) * HOUR),
      usage: [
        {
          channel: "air",
          quantity: { value: end.minus(start), unit: "MTQ", basis: "ISO1217-FAD" },
          register: { start, end },
          flags: {},
        },
      ],
      gaps: [],
      quarantined: 0,
      // the dashboard reads the four ratios of the window's OEE
      oee: {
        availability: ratio(h % 5 === 2 ? "0.8" : "0.96"),
        effectiveness: ratio("0.9"),
        quality: ratio("0.99"),
        oee: ratio(h % 5 === 2 ? "0.7128" : "0.85536"),
      },
    } as unknown as MeterWindow<OeeResult>;
    const record = await signMeterRecord(
      buildMeterRecord(window, {
        binding: {
          agreementId: agreement.agreementId,
          chainId: 0,
          verifyingContract: `0x${"0".repeat(40)}`,
        },
        chain,
        clock: "synchronised",
        channel: "air",
      }),
      { signer: machine },
    );
    chain = nextChainState(record);
    out.push({ record, window });
  }
  return out;
}

let browser: BrowserContext;
let profile: string;
beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: run \`bash scripts/ensure-chromium.sh\``);
  profile = mkdtempSync(join(tmpdir(), "maaskit-dash-charts-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});

describe("dashboard charts in a real browser", () => {
  it("draws flow and volume, usage against the tiers with the invoice building up, OEE per window, the filter against its threshold; pages the records", async () => {
    const hours = 30;
    const all = readings(hours);
    const windows = await hourlyRecords(all, hours);
    const dashboard = await startDashboard(0);
    const page = await browser.newPage();
    const offsite: string[] = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(dashboard.url)) offsite.push(r.url());
    });
    try {
      const feed = createDashboardFeed(dashboard, "compressor-1", "embedded", {
        filterThreshold: "0.05",
      });
      feed.agreement(agreement);
      let next = 0;
      for (const { record, window } of windows) {
        for (
          ;
          next < all.length && all[next]!.sourceTime.getTime() <= record.periodEnd.getTime();
          next++
        )
          feed.reading(all[next]!);
        feed.record(record, window);
      }
      feed.flush();
      await page.goto(dashboard.url);
      await page.waitForFunction(
        () => document.querySelectorAll(".chart canvas").length === 4,
        null,
        {
          timeout: 20_000,
        },
      );
      // the running invoice of the open period (the second day: 6 records) is the tariff applied to them
      const second = windows.slice(24).map((w) => w.record);
      const running = priceRecords(agreement.tariff, second, {
        period: { start: new Date(START + 24 * HOUR), end: new Date(START + 48 * HOUR) },
        currency: agreement.currency,
      });
      expect(await page.textContent("#invoiceTotal")).toBe(`${running.total.toFixed(2)} EUR`);
      const charts = await page.evaluate(() => {
        const plots = (
          window as unknown as {
            maaskitCharts: {
              plots: Record<string, { data: number[][]; series: { label: string }[] }>;
            };
          }
        ).maaskitCharts.plots;
        return Object.fromEntries(
          Object.entries(plots).map(([id, p]) => [
            id,
            { points: p.data[0]!.length, series: p.series.slice(1).map((s) => s.label) },
          ]),
        );
      });
      expect(charts.chartFlow!.series).toEqual(["flow", "delivered m³"]);
      expect(charts.chartFlow!.points).toBeGreaterThan(300);
      expect(charts.chartPeriod!.series).toEqual(["usage this period", "invoice EUR"]);
      expect(charts.chartPeriod!.points).toBe(6);
      expect(charts.chartOee!.series).toEqual(["availability", "effectiveness", "quality", "OEE"]);
      expect(charts.chartOee!.points).toBe(hours);
      expect(charts.chartFilter!.series).toEqual(["filter Δp"]);
      const last = await page.evaluate(() => {
        const p = (
          window as unknown as {
            maaskitCharts: { plots: Record<string, { data: (number | null)[][] }> };
          }
        ).maaskitCharts.plots.chartPeriod!;
        return [p.data[1]!.at(-1), p.data[2]!.at(-1)];
      });
      expect(last).toEqual([
        Number(running.usage.value.toFixed()),
        Number(running.total.toFixed()),
      ]);
      // records: 30, paged 25 a page, latest first
      expect(await page.textContent("#pageInfo")).toBe("page 1 of 2");
      expect(await page.$$eval("#recordRows tr", (trs) => trs.length)).toBe(25);
      expect(await page.textContent("#recordRows tr:first-child td:first-child")).toBe("29");
      mkdirSync(resolve(screenshot, ".."), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true });
      await page.click("#pageNext");
      expect(await page.textContent("#pageInfo")).toBe("page 2 of 2");
      expect(
        await page.$$eval("#recordRows tr", (trs) =>
          trs.map((tr) => tr.firstElementChild?.textContent),
        ),
      ).toEqual(["4", "3", "2", "1", "0"]);
      expect(offsite).toEqual([]);
    } finally {
      await page.close();
      await dashboard.close();
    }
  }, 120_000);
});
