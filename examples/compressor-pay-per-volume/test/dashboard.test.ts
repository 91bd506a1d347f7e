import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard } from "../src/dashboard/server.js";
import { createDashboardFeed } from "../src/dashboardFeed.js";
import { type DemoResult, runDemo } from "../src/demo.js";

/** Debian's chromium (apt-get install chromium); playwright never downloads a browser here. */
function chromiumPath(): string {
  const found = execFileSync("sh", [
    "-c",
    "command -v chromium || command -v chromium-browser || true",
  ])
    .toString()
    .trim();
  if (!found) throw new Error("chromium not found: install it with `apt-get install -y chromium`");
  return found;
}

const screenshot = resolve(__dirname, "../out/dashboard.png");
let browser: Browser;
let outDir: string;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), "maaskit-dash-"));
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  rmSync(outDir, { recursive: true, force: true });
});

describe("dashboard in a real browser", () => {
  it("default: shows live values, verified records, the invoice, OEE, work orders and the ledger", async () => {
    const dashboard = await startDashboard(0);
    const feed = createDashboardFeed(dashboard, "compressor-1", "embedded");
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(dashboard.url);
    let result: DemoResult | undefined;
    try {
      const run = runDemo({
        start: new Date("2025-03-02T23:00:00.000Z"),
        spanMs: 2 * 86_400_000,
        accelerate: 43_200,
        billing: { kind: "days", days: 1, timeZone: "Europe/Berlin" },
        windowSize: "1h",
        outDir,
        filterLifeVolume: 4_000,
        serviceRunHours: "1000",
        log: (e) => feed.log(e),
        onReading: (r) => feed.reading(r),
        onRecord: (r, w) => feed.record(r, w),
        onAcknowledged: (seq) => feed.acknowledged(seq),
        onInvoice: (i) => feed.invoice(i, true),
        onStart: ({ agreement }) => feed.agreement(agreement),
      });
      // Live: the page fills in while the simulation runs.
      await page.waitForFunction(
        () => document.querySelectorAll("#recordRows tr").length > 0,
        null,
        {
          timeout: 60_000,
        },
      );
      expect(await page.textContent("#flow")).toMatch(/^\d+(\.\d+)?$/);
      result = await run;
      feed.workOrders(result.workOrders);
      await page.waitForFunction(
        () => document.querySelector("#workOrders")?.textContent?.includes("paid") ?? false,
        null,
        { timeout: 10_000 },
      );
    } finally {
      await dashboard.close().catch(() => undefined);
    }
    const lastInvoice = result!.summary.invoices.at(-1)!;
    expect(await page.textContent("#invoiceTotal")).toBe(`${lastInvoice.total.toFixed(2)} EUR`);
    expect(await page.textContent("#recordsTotal")).toBe(String(result!.summary.records));
    const verdicts = await page.$$eval("#recordRows td:nth-child(5)", (tds) =>
      tds.map((td) => td.textContent),
    );
    expect(verdicts.length).toBeGreaterThan(10);
    expect(new Set(verdicts)).toEqual(new Set(["valid"]));
    const acks = await page.$$eval("#recordRows td:nth-child(6)", (tds) =>
      tds.map((td) => td.textContent),
    );
    expect(new Set(acks)).toEqual(new Set(["acknowledged"]));
    for (const id of ["#oeeA", "#oeeE", "#oeeQ", "#oeeO"])
      expect(await page.textContent(id)).toMatch(/ %$/);
    expect(await page.textContent("#ledger")).toContain("embedded");
    mkdirSync(resolve(screenshot, ".."), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
  }, 120_000);
});
