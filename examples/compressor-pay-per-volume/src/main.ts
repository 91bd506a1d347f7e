import { resolve } from "node:path";
import { runCli } from "@maaskit/metering";
import { startDashboard } from "./dashboard/server.js";
import { createDashboardFeed, lineLabel } from "./dashboardFeed.js";
import { FILTER_TRIGGER_BAR, runDemo } from "./demo.js";

/**
 * `pnpm start`: one simulated month of compressed air sold per m³ — simulator (OPC UA),
 * gateway, dashboard and the embedded ledger — then the invoice, the maintenance payments and
 * the verification of the exported records. `--keep-open` leaves the dashboard running.
 */
async function main() {
  const keepOpen = process.argv.includes("--keep-open");
  const outDir = resolve(process.cwd(), "out");
  const dashboard = await startDashboard(0);
  const feed = createDashboardFeed(dashboard, "compressor-1", "embedded", {
    filterThreshold: FILTER_TRIGGER_BAR,
  });
  process.stdout.write(
    `\nmaaskit demo — compressed air sold per m³\ndashboard: ${dashboard.url}\n\n`,
  );
  let lastProgress = 0;
  const start = new Date("2024-12-31T23:00:00.000Z"); // 2025-01-01 00:00 in Europe/Berlin
  const result = await runDemo({
    start,
    spanMs: 32 * 86_400_000,
    accelerate: 43_200,
    billing: { kind: "calendarMonth", timeZone: "Europe/Berlin" },
    windowSize: "1h",
    outDir,
    log: (e) => {
      if (e.event === "reading.quarantined") return feed.log(e);
      if (
        e.event.startsWith("maintenance") ||
        e.event.startsWith("workOrder") ||
        e.event.startsWith("period") ||
        e.event.startsWith("gateway") ||
        e.event.startsWith("agreement") ||
        e.event.startsWith("funds") ||
        e.event.startsWith("delivery") ||
        e.event.endsWith("error")
      ) {
        process.stdout.write(`${JSON.stringify(e)}\n`);
      }
      feed.log(e);
    },
    onReading: (r) => {
      feed.reading(r);
      const t = r.sourceTime.getTime();
      if (t - lastProgress >= 2 * 86_400_000) {
        lastProgress = t;
        process.stdout.write(`… simulated ${r.sourceTime.toISOString().slice(0, 16)}Z\n`);
      }
    },
    onRecord: (record, window) => feed.record(record, window),
    onAcknowledged: (seq) => feed.acknowledged(seq),
    onInvoice: (invoice) => feed.invoice(invoice, true),
    onStart: ({ agreement }) => feed.agreement(agreement),
  });
  feed.workOrders(result.workOrders);

  const out = process.stdout;
  out.write("\n=== Invoice(s) ===\n");
  for (const inv of result.summary.invoices) {
    out.write(
      `period ${inv.period.start.toISOString()} – ${inv.period.end.toISOString()}, usage ${inv.usage.value.toFixed()} m³\n`,
    );
    for (const l of inv.lines)
      out.write(
        `  ${lineLabel(l).padEnd(48)} ${l.amount.toFixed(2).padStart(12)} ${inv.currency.symbol}\n`,
      );
    out.write(
      `  ${"TOTAL".padEnd(48)} ${inv.total.toFixed(2).padStart(12)} ${inv.currency.symbol}\n`,
    );
  }
  out.write("\n=== Maintenance work orders ===\n");
  for (const w of result.workOrders)
    out.write(`  ${w.id.padEnd(40)} ${w.state.padEnd(10)} ${w.amount ?? ""} EUR\n`);
  out.write("\n=== Metered vs delivered ===\n");
  out.write(`  metered volume (all signed records):   ${result.summary.billedVolume} m³\n`);
  out.write(`  simulator ground truth (same span):    ${result.groundTruthVolume.toFixed()} m³\n`);
  out.write(
    `  exact match: ${result.groundTruthVolume.eq(result.summary.billedVolume) ? "yes" : "NO"}\n`,
  );
  out.write(`\n=== maaskit verify ${result.summary.files.records} ===\n`);
  const code = await runCli(["verify", result.summary.files.records, "--signer", result.signer], {
    stdout: (t) => {
      if (!/^line \d+ .* valid\n$/.test(t)) out.write(`  ${t}`);
    },
    stderr: (t) => process.stderr.write(t),
  });
  if (result.summary.files.history) {
    out.write(`=== maaskit verify ${result.summary.files.history} ===\n`);
    await runCli(["verify", result.summary.files.history, "--signer", result.signer], {
      stdout: (t) => {
        if (!/^line \d+ .* valid\n$/.test(t)) out.write(`  ${t}`);
      },
      stderr: (t) => process.stderr.write(t),
    });
  }
  out.write(`\nexported: ${outDir}\n`);
  if (keepOpen) {
    out.write(`dashboard stays open at ${dashboard.url} (Ctrl-C to stop)\n`);
    await new Promise<void>((ok) => {
      process.once("SIGINT", ok);
      process.once("SIGTERM", ok);
    });
  }
  await dashboard.close();
  process.exitCode = code;
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
