// The MES plugin demo: `pnpm --filter mes-plugin start` (add `-- --keep` to keep the files).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addQuantities, dec, type OeeRatio, quantity } from "@maaskit/metering";
import { invoiceToJson } from "@maaskit/settlement";
import { measureImportCost } from "./importCost.js";
import { runDemo } from "./runDemo.js";

const keep = process.argv.includes("--keep");
const dir = await mkdtemp(join(tmpdir(), "maaskit-mes-plugin-"));
const out = (line = "") => process.stdout.write(`${line}\n`);
const hours = (ms: bigint) => dec(ms.toString()).div(3_600_000).toFixed(2).padStart(6);
const pct = (r: OeeRatio) =>
  r.defined
    ? `${r.value.mul(100).toFixed(2)} %${r.implausible ? " (implausible)" : ""}`
    : `n/a (${r.reason})`;

try {
  out("maaskit MES plugin demo — a simulated screw compressor, two days, embedded ledger");
  out(`working directory ${dir}`);
  const run = await runDemo({ dir });
  const unit = run.agreement.tariff.metered;
  out(
    `metered ${run.windows.length} windows of 15 min in ${run.meteringMs.toFixed(0)} ms ` +
      `(${run.quarantined.length} inputs quarantined)`,
  );

  out();
  out("OEE per shift (ISO 22400-2; nights 22–06 are planned down time; hours)");
  out(
    "shift                  windows    PBT    APT   AUST   ADET   ADOT  unobs  availability  effectiveness",
  );
  for (const s of run.rollUps.filter((r) => r.kind === "shift")) {
    const t = s.result.timeElements;
    out(
      `${s.productionDay} #${s.shift} ${s.start.toISOString().slice(11, 16)}–${s.end.toISOString().slice(11, 16)}` +
        `${String(s.windows).padStart(9)}${s.complete ? " " : "*"}` +
        ` ${hours(t.pbt)} ${hours(t.apt)} ${hours(t.aust)} ${hours(t.adet)} ${hours(t.adot)} ${hours(t.unobserved)}` +
        `  ${pct(s.result.availability).padEnd(13)} ${pct(s.result.effectiveness)}`,
    );
  }
  for (const d of run.rollUps.filter((r) => r.kind === "day" && r.complete)) {
    const t = d.result.timeElements;
    out(
      `production day ${d.productionDay}: Σ APT ${hours(t.apt).trim()} h / Σ PBT ${hours(t.pbt).trim()} h` +
        ` = availability ${pct(d.result.availability)} (sums of time elements, not a mean of ratios)`,
    );
  }
  out("* partial shift (the run starts at 00:00 and ends at 00:00)");

  out();
  out(`Usage (${unit.unit}, ${unit.basis}) — exact Decimal, register rolls over at 100,000,000 m³`);
  let total = quantity(0, unit.unit, unit.basis);
  for (const u of run.usage) total = addQuantities(total, u.quantity);
  const rolled = run.usage.find((u) => u.flags.rollover === true);
  for (const inv of run.invoices) {
    const perDay = run.usage
      .filter((u) => u.start >= inv.period.start && u.end <= inv.period.end)
      .reduce((a, u) => a.plus(u.quantity.value), dec(0));
    out(`  ${inv.period.start.toISOString().slice(0, 10)}  ${perDay.toFixed()} m³`);
  }
  const truth = run.model
    .groundTruthVolumeAt(run.end)
    .minus(run.model.groundTruthVolumeAt(run.start));
  out(
    `  metered total ${total.value.toFixed()} m³; simulator ground truth ${truth.toFixed()} m³; equal: ${total.value.eq(truth)}`,
  );
  if (rolled)
    out(`  register rollover in window ${rolled.start.toISOString()} (flagged, counted exactly)`);

  out();
  const first = run.records[0]!;
  const last = run.records[run.records.length - 1]!;
  out(
    `Signed records: ${run.records.length} (seq ${first.seq}–${last.seq}) by ${first.signer}, ` +
      `journaled, delivered to the ${run.ledger.kind} ledger`,
  );

  out();
  out("Invoices (read back through the plugin)");
  for (const inv of await run.plugin.invoices()) {
    const j = invoiceToJson(inv);
    out(
      `  ${j.period.start.slice(0, 10)}  usage ${j.usage.value} ${j.usage.unit}  total ${j.total} ${j.currency.symbol}`,
    );
    for (const l of j.lines) {
      const what = l.quantity ? `${l.quantity.value} ${l.quantity.unit} × ${l.unitPrice}` : "";
      out(
        `    ${l.kind.padEnd(8)} ${(l.tier === undefined ? "" : `tier ${l.tier}`).padEnd(6)} ${what.padEnd(24)} ${l.amount.padStart(8)}`,
      );
    }
  }

  out();
  out("Verifying the exported records");
  const text = await readFile(run.recordsFile, "utf8");
  const ok = await run.plugin.verifyRecords(text);
  out(
    `  ${run.recordsFile}: ${ok.verdicts.filter((v) => v.valid).length}/${ok.verdicts.length} valid → ${ok.valid ? "ACCEPTED" : "REJECTED"}`,
  );
  const lines = text.trimEnd().split("\n");
  // Bill 1 m³ less in the 10:00–10:15 window of day one, register adjusted to match.
  const tampered = JSON.parse(lines[40]!);
  tampered.quantity.value = dec(tampered.quantity.value).minus(1).toFixed();
  tampered.register.end = dec(tampered.register.end).minus(1).toFixed();
  lines[40] = JSON.stringify(tampered);
  const tamperedFile = join(dir, "exports", "records.tampered.jsonl");
  await writeFile(tamperedFile, `${lines.join("\n")}\n`);
  const bad = await run.plugin.verifyRecords(await readFile(tamperedFile, "utf8"));
  out(`  ${tamperedFile} (seq 40 lowered by 1 m³): ${bad.valid ? "ACCEPTED" : "REJECTED"}`);
  for (const v of bad.verdicts.filter((x) => !x.valid))
    out(`    line ${v.line} seq ${v.seq}: ${v.reasons.join(", ")}`);

  out();
  out("Maintenance history");
  const history = await run.plugin.maintenanceHistory(run.historyFile, run.warranty);
  out(
    `  ${run.historyFile}: ${history.entries.length} entries, ${history.valid ? "verified" : "REJECTED"}`,
  );
  for (const e of history.entries)
    out(`    #${e.seq} ${e.at} ${e.type} ${JSON.stringify(e.payload)}`);
  out(
    `  warranty (air filter every 2000 run hours or 12 months): ${history.warranty?.compliant ? "compliant" : "NOT compliant"}`,
  );
  const hist = (await readFile(run.historyFile, "utf8")).trimEnd().split("\n");
  const entry = JSON.parse(hist[1]!);
  entry.payload.runHours = "1.000"; // claim the service happened much earlier
  hist[1] = JSON.stringify(entry);
  const tamperedHistory = join(dir, "exports", "history.tampered.jsonl");
  await writeFile(tamperedHistory, `${hist.join("\n")}\n`);
  const badHistory = await run.plugin.maintenanceHistory(tamperedHistory, run.warranty);
  out(`  ${tamperedHistory} (run hours edited): ${badHistory.valid ? "verified" : "REJECTED"}`);
  for (const v of badHistory.verdicts.filter((x) => !x.valid)) {
    out(`    line ${v.line} seq ${v.seq}: ${v.reasons.map((r) => r.code).join(", ")}`);
  }
  await run.close();

  out();
  out("Import cost (fresh process; the TypeScript loader's own modules subtracted)");
  const main = await measureImportCost([
    "@maaskit/metering",
    "@maaskit/settlement",
    "@maaskit/maintenance",
  ]);
  const opcua = await measureImportCost(["@maaskit/metering/opcua"]);
  for (const c of [main, opcua]) {
    const heavy = c.packages.filter((p) => /^(node-opcua|@hyperledger\/)/.test(p.name));
    out(
      `  import ${c.specifiers.join(" + ")}: ${c.modules.length} modules from ${c.packages.length} packages, ` +
        `${(c.heapBytes / 1e6).toFixed(1)} MB heap, ${c.importMs.toFixed(0)} ms`,
    );
    out(
      `    ${c.packages
        .slice(0, 8)
        .map((p) => `${p.name} ${p.modules}`)
        .join(", ")}${c.packages.length > 8 ? ", …" : ""}`,
    );
    out(
      `    node-opcua*: ${heavy.filter((p) => p.name.startsWith("node-opcua")).reduce((n, p) => n + p.modules, 0)} modules; ` +
        `@hyperledger/*: ${heavy.filter((p) => p.name.startsWith("@hyperledger/")).reduce((n, p) => n + p.modules, 0)} modules`,
    );
  }
} finally {
  if (keep) out(`\nfiles kept in ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
