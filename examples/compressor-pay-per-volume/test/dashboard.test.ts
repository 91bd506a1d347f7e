import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { dec, hashLogEntry, type LogEntry, runCli } from "@maaskit/metering";
import { verifyAasEnvironment } from "@maaskit/metering/aas";
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
/** The run of the first test: its export files in `outDir` feed the AAS test. */
let demo: DemoResult | undefined;

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
    demo = result;
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

  it("the run's export files make an AAS twin: zero aas-core errors, each Time Series segment's total is its invoice's usage, the history's hashes are the signed log's", async (ctx) => {
    if (demo === undefined) {
      // the run is the test above's; its failure is reported there, once
      console.warn("AAS export of the run: skipped, the demo run of the test above did not finish");
      ctx.skip();
    }
    const invoiceFiles = readdirSync(join(outDir, "invoices"))
      .sort()
      .map((f) => join(outDir, "invoices", f));
    expect(invoiceFiles.length).toBe(demo!.summary.invoices.length);
    const nameplate = join(outDir, "nameplate.json");
    writeFileSync(
      nameplate,
      JSON.stringify({
        uriOfTheProduct: "urn:example:compressor:compressor-1",
        manufacturerName: "Example Kompressoren GmbH",
        manufacturerProductDesignation: "Screw compressor, 12.5 m³/min",
        serialNumber: "compressor-1",
      }),
    );
    const twin = join(outDir, "compressor-1.aas.json");
    const err: string[] = [];
    const code = await runCli(
      [
        "export",
        "aas",
        "--records",
        join(outDir, "records.jsonl"),
        ...invoiceFiles.flatMap((f) => ["--invoice", f]),
        "--history",
        join(outDir, "history.jsonl"),
        "--nameplate",
        nameplate,
        "--id",
        "urn:example:twin:compressor-1",
        "--signer",
        demo!.signer,
        "--out",
        twin,
      ],
      { stdout: () => undefined, stderr: (t) => err.push(t) },
    );
    expect(code, err.join("")).toBe(0);
    const env = JSON.parse(readFileSync(twin, "utf8"));
    expect(verifyAasEnvironment(env)).toEqual([]);

    type Node = { idShort?: string; value?: unknown; submodelElements?: Node[] };
    const child = (n: Node | undefined, idShort: string) =>
      ((n?.submodelElements ?? n?.value) as Node[] | undefined)?.find((c) => c.idShort === idShort);
    const all = (n: unknown, idShort: string): string[] =>
      Array.isArray(n)
        ? n.flatMap((c) => all(c, idShort))
        : n !== null && typeof n === "object"
          ? [
              ...((n as Node).idShort === idShort && typeof (n as Node).value === "string"
                ? [(n as Node).value as string]
                : []),
              ...Object.values(n).flatMap((c) => all(c, idShort)),
            ]
          : [];
    const timeSeries = (env.submodels as Node[]).find((s) => s.idShort === "TimeSeries");
    const segments = child(timeSeries, "Segments")!.value as Node[];
    // each billing period: Σ Delta of its records = the ledger's invoice usage
    demo!.summary.invoices.forEach((invoice, i) => {
      const total = all(segments[i], "Delta").reduce((a, v) => a.plus(dec(v)), dec(0));
      expect(total.toFixed(), `segment ${i + 1}`).toBe(invoice.usage.value.toFixed());
    });
    const history = readFileSync(join(outDir, "history.jsonl"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as LogEntry);
    expect(history.length).toBeGreaterThan(0);
    const requests = (env.submodels as Node[]).find(
      (s) => s.idShort === "ServiceRequestNotification",
    );
    expect(all(requests, "EntryHash").sort()).toEqual(history.map((e) => hashLogEntry(e)).sort());
  }, 60_000);
});
