import {
  type CustomerFiles,
  type CustomerReport,
  checkExport,
  type LineFigures,
} from "./checkExport.js";
import { drawUsageChart } from "./usageChart.js";

declare global {
  interface Window {
    /** The last report, for scripts and tests. */
    maaskitReport?: CustomerReport;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function figures(f: LineFigures | undefined): string {
  if (f === undefined) return "—";
  return f.quantity === undefined
    ? f.amount
    : `${f.quantity} × ${f.unitPrice ?? "?"} = ${f.amount}`;
}

async function readFile(id: string): Promise<string | undefined> {
  const file = $<HTMLInputElement>(id).files?.[0];
  return file === undefined ? undefined : file.text();
}

function show(report: CustomerReport): void {
  window.maaskitReport = report;
  const verdict = $("verdict");
  verdict.className = report.valid ? "ok" : "bad";
  verdict.textContent = report.valid
    ? `VALID — ${report.points.length} records verified, signed by ${report.signers.join(", ")}; the invoice re-computes to the cent (${report.total?.recomputed ?? ""})`
    : `INVALID — ${report.findings.length} problem${report.findings.length === 1 ? "" : "s"} found`;

  $("findings").replaceChildren(
    ...report.findings.map((f) => {
      const li = document.createElement("li");
      li.dataset.code = f.code;
      const code = document.createElement("code");
      code.textContent = f.code;
      li.append(code, ` at ${f.where}: ${f.message}`);
      return li;
    }),
  );

  $("lineRows").replaceChildren(
    ...report.lines.map((l) => {
      const tr = document.createElement("tr");
      tr.className = l.match ? "" : "mismatch";
      const span = l.records;
      tr.append(
        cell(l.label),
        cell(figures(l.ledger), "num"),
        cell(figures(l.recomputed), "num"),
        cell(l.match ? "match" : "MISMATCH", l.match ? "match" : "nomatch"),
        cell(
          span === null
            ? "the period"
            : `seq ${span.firstSeq}–${span.lastSeq} (${span.count} records)`,
        ),
      );
      return tr;
    }),
  );
  const t = report.total;
  $("totals").textContent =
    t === undefined
      ? ""
      : `Total: ledger ${t.ledger}, re-computed ${t.recomputed ?? "—"} — ${t.match ? "match" : "MISMATCH"}. Usage: ledger ${report.usage?.ledger} ${report.usage?.unit}, records ${report.usage?.recomputed ?? "—"}.${report.history ? ` Maintenance history: ${report.history.entries} entries, ${report.history.valid ? "all valid" : "NOT valid"}.` : ""}`;

  const verdicts = new Map(report.verdicts.map((v) => [v.line, v]));
  $("recordRows").replaceChildren(
    ...report.points.map((p) => {
      const tr = document.createElement("tr");
      tr.className = p.valid ? "" : "invalid";
      const v = verdicts.get(p.line);
      tr.append(
        cell(String(p.line)),
        cell(String(p.seq)),
        cell(
          `${new Date(p.start).toISOString().slice(0, 16)} – ${new Date(p.end).toISOString().slice(11, 16)}`,
        ),
        cell(p.quantity, "num"),
        cell(p.flags.join(", ")),
        cell(String(p.quarantined), "num"),
        cell(p.valid ? "valid" : (v?.reasons.join(", ") ?? "not verified")),
      );
      return tr;
    }),
  );
  drawUsageChart($("chart"), report.points);
  document.body.dataset.state = report.valid ? "valid" : "invalid";
}

$("files").addEventListener("submit", (event) => {
  event.preventDefault();
  void (async () => {
    const [records, invoice, agreement, history, checkpoint] = await Promise.all(
      ["records", "invoice", "agreement", "history", "checkpoint"].map(readFile),
    );
    if (records === undefined || invoice === undefined || agreement === undefined) {
      $("verdict").className = "bad";
      $("verdict").textContent = "Drop in the records export, the invoice and the agreement.";
      return;
    }
    const files: CustomerFiles = {
      records,
      invoice,
      agreement,
      ...(history === undefined ? {} : { history }),
      ...(checkpoint === undefined ? {} : { checkpoint }),
    };
    show(checkExport(files));
  })();
});
document.body.dataset.state = "ready";
