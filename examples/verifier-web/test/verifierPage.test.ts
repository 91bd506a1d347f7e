import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildVerifierPage } from "../src/buildPage.js";
import type { CustomerFiles } from "../src/checkExport.js";
import { type GenuineExport, genuineExport } from "./genuineExport.js";
import { tamperedCases } from "./tampered.js";

const CHROMIUM = "/usr/bin/chromium";
const shots = resolve(__dirname, "../test-output");
let browser: BrowserContext;
let profile: string;
let pageUrl: string;
let g: GenuineExport;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: run \`bash scripts/ensure-chromium.sh\` (Debian's chromium)`,
    );
  }
  // The page is built here, from the sources, so the test checks what `pnpm build` ships.
  const { path } = await buildVerifierPage(
    join(mkdtempSync(join(tmpdir(), "maaskit-vw-")), "verifier.html"),
  );
  pageUrl = pathToFileURL(path).href;
  g = await genuineExport();
  profile = mkdtempSync(join(tmpdir(), "maaskit-vw-profile-"));
  // a fresh profile (--user-data-dir) per run: playwright passes it for a persistent context
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
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
  mkdirSync(shots, { recursive: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
  rmSync(profile, { recursive: true, force: true });
});

/** Opens the page from disk, drops the files in, presses Verify; fails on any network request. */
async function verifyInPage(files: CustomerFiles): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage();
  // Loading the 1.8 MB page compiles the WASM signature check: on a loaded 2-core machine that
  // alone took longer than Playwright's default 30 s.
  page.setDefaultTimeout(150_000);
  const requests: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) requests.push(r.url());
  });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(pageUrl);
  await page.waitForFunction(() => document.body.dataset.state === "ready");
  const put = async (id: string, name: string, text: string | undefined) => {
    if (text !== undefined)
      await page.setInputFiles(`#${id}`, {
        name,
        mimeType: "application/json",
        buffer: Buffer.from(text),
      });
  };
  await put("records", "records.jsonl", files.records);
  await put("invoice", "invoice.json", files.invoice);
  await put("agreement", "agreement.json", files.agreement);
  await put("history", "history.jsonl", files.history);
  await put("checkpoint", "checkpoint.json", files.checkpoint);
  await page.click("#verify");
  await page.waitForFunction(() => document.body.dataset.state !== "ready", null, {
    timeout: 150_000,
  });
  expect(errors).toEqual([]);
  return { page, requests };
}

describe("the verifier page in headless Chromium", () => {
  it("a genuine export verifies and the re-computed invoice equals the ledger's to the cent", async () => {
    const { page, requests } = await verifyInPage({
      records: g.records,
      invoice: g.invoice,
      agreement: g.agreement,
      history: g.history,
      checkpoint: g.checkpoint,
    });
    expect(await page.getAttribute("body", "data-state")).toBe("valid");
    const cents = `${g.ledgerInvoice.total.toFixed(2)} EUR`;
    expect(await page.textContent("#verdict")).toContain(`VALID — 24 records verified`);
    expect(await page.textContent("#verdict")).toContain(cents);
    expect(await page.textContent("#totals")).toContain(
      `ledger ${cents}, re-computed ${cents} — match`,
    );
    expect(await page.textContent("#totals")).toContain(
      "Maintenance history: 5 entries, all valid",
    );
    const rows = await page.$$eval("#lineRows tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)),
    );
    expect(rows.map((r) => r[0])).toEqual([
      "included volume",
      "usage tier 1",
      "usage tier 2",
      "base fee",
    ]);
    expect(rows.map((r) => r[3])).toEqual(["match", "match", "match", "match"]);
    expect(rows.map((r) => r[1])).toEqual(
      g.ledgerInvoice.lines.map((l) =>
        l.quantity === undefined
          ? l.amount.toFixed()
          : `${l.quantity.value.toFixed()} × ${l.unitPrice!.toFixed()} = ${l.amount.toFixed()}`,
      ),
    );
    expect(rows[0]![4]).toBe("seq 0–2 (3 records)");
    expect(await page.$$eval("#recordRows tr", (trs) => trs.length)).toBe(24);
    expect(await page.locator("#chart canvas").count()).toBe(1);
    expect(requests).toEqual([]);
    await page.screenshot({ path: join(shots, "verifier-genuine.png"), fullPage: true });
    await page.close();
  }, 300_000);

  it("each tampered export is caught and named on the page", async () => {
    for (const c of tamperedCases(g)) {
      const { page, requests } = await verifyInPage(c.files);
      expect(await page.getAttribute("body", "data-state"), c.name).toBe("invalid");
      expect(await page.textContent("#verdict"), c.name).toMatch(/^INVALID — \d+ problems? found$/);
      const findings = await page.$$eval("#findings li", (lis) =>
        lis.map((li) => ({ code: li.dataset.code, text: li.textContent })),
      );
      for (const code of c.codes)
        expect(
          findings.map((f) => f.code),
          c.name,
        ).toContain(code);
      expect(findings.map((f) => f.text).join("\n"), c.name).toContain(c.where);
      expect(requests).toEqual([]);
      await page.screenshot({
        path: join(shots, `verifier-${c.name.replaceAll(" ", "-")}.png`),
        fullPage: true,
      });
      await page.close();
    }
  }, 600_000);
});
