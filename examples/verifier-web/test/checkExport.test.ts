import { beforeAll, describe, expect, it } from "vitest";
import { checkExport } from "../src/checkExport.js";
import { type GenuineExport, genuineExport } from "./genuineExport.js";
import { tamperedCases } from "./tampered.js";

let g: GenuineExport;
beforeAll(async () => {
  g = await genuineExport();
});

describe("checkExport (the page's logic, in Node)", () => {
  it("a genuine export verifies and re-computes the ledger's invoice to the cent", () => {
    const report = checkExport({
      records: g.records,
      invoice: g.invoice,
      agreement: g.agreement,
      history: g.history,
    });
    expect(report.findings).toEqual([]);
    expect(report.valid).toBe(true);
    expect(report.total).toEqual({
      ledger: `${g.ledgerInvoice.total.toFixed(2)} EUR`,
      recomputed: `${g.ledgerInvoice.total.toFixed(2)} EUR`,
      match: true,
    });
    expect(report.lines.map((l) => l.label)).toEqual([
      "included volume",
      "usage tier 1",
      "usage tier 2",
      "base fee",
    ]);
    expect(report.lines.every((l) => l.match)).toBe(true);
    expect(report.history).toEqual({ entries: 5, valid: true });
    // the records behind each line: the first 20 m³ are free, tier 1 is the next 100 m³
    expect(report.lines[0]!.records).toEqual({ firstSeq: 0, lastSeq: 2, count: 3 });
    expect(report.lines[2]!.records?.lastSeq).toBe(23);
    expect(report.points.filter((p) => p.flags.includes("gap")).map((p) => p.seq)).toEqual([9]);
    expect(report.points.filter((p) => p.flags.includes("reset")).map((p) => p.seq)).toEqual([15]);
  });

  for (const name of [
    "changed quantity",
    "deleted record",
    "foreign record",
    "changed tariff",
    "inflated invoice line",
  ]) {
    it(`${name}: caught and named`, () => {
      const c = tamperedCases(g).find((t) => t.name === name)!;
      const report = checkExport(c.files);
      expect(report.valid).toBe(false);
      const codes = report.findings.map((f) => f.code);
      for (const code of c.codes) expect(codes).toContain(code);
      expect(report.findings.map((f) => f.where).join("\n")).toContain(c.where);
    });
  }

  it("a tampered maintenance history is named", () => {
    const lines = g.history.trimEnd().split("\n");
    const e = JSON.parse(lines[3]!);
    e.payload.amount = "1200";
    lines[3] = JSON.stringify(e);
    const report = checkExport({ ...g, history: `${lines.join("\n")}\n` });
    expect(report.history).toEqual({ entries: 5, valid: false });
    const named = report.findings.filter(
      (f) => f.code === "metering.log.badSignature" && f.where.startsWith("history line 4 "),
    );
    expect(named.length, JSON.stringify(report.findings)).toBe(1);
  });

  it("a checkpoint pins the end: the genuine export meets it, a cut-off last record does not", () => {
    expect(checkExport({ ...g, history: undefined }).valid).toBe(true);
    const cut = `${g.records.trimEnd().split("\n").slice(0, -1).join("\n")}\n`;
    const report = checkExport({ ...g, history: undefined, records: cut });
    expect(report.findings.map((f) => f.code)).toContain("metering.cli.anchorNotMet");
  });
});
