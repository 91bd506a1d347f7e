import type { CustomerFiles } from "../src/checkExport.js";
import type { GenuineExport } from "./genuineExport.js";

/** A tampered set of files, the codes the verifier must name, and where. */
export interface TamperCase {
  readonly name: string;
  readonly files: CustomerFiles;
  readonly codes: readonly string[];
  /** Text the findings must contain (which record or line failed). */
  readonly where: string;
}

function editLine(
  text: string,
  index: number,
  edit: (json: Record<string, unknown>) => void,
): string {
  const lines = text.trimEnd().split("\n");
  const json = JSON.parse(lines[index]!) as Record<string, unknown>;
  edit(json);
  lines[index] = JSON.stringify(json);
  return `${lines.join("\n")}\n`;
}

/** The five attacks of the issue, each on a copy of the genuine files. */
export function tamperedCases(g: GenuineExport): TamperCase[] {
  const base: CustomerFiles = { records: g.records, invoice: g.invoice, agreement: g.agreement };
  const lines = g.records.trimEnd().split("\n");
  return [
    {
      name: "changed quantity",
      files: {
        ...base,
        records: editLine(g.records, 6, (r) => {
          const q = r.quantity as { value: string };
          q.value = (Number(q.value) + 3).toString();
        }),
      },
      codes: [
        "metering.record.badSignature",
        "metering.record.brokenChain",
        "verifier.invoice.usageMismatch",
        "verifier.invoice.lineMismatch",
      ],
      where: "line 7 (seq 6)",
    },
    {
      name: "deleted record",
      files: { ...base, records: `${[...lines.slice(0, 11), ...lines.slice(12)].join("\n")}\n` },
      codes: ["metering.record.seqGap", "settlement.pricing.seqGap"],
      where: "seq 12",
    },
    {
      name: "foreign record",
      files: {
        ...base,
        records: `${[...lines.slice(0, 4), g.foreignRecord, ...lines.slice(4)].join("\n")}\n`,
      },
      codes: ["metering.record.wrongAgreement"],
      where: "line 5 (seq 5)",
    },
    {
      name: "changed tariff",
      files: {
        ...base,
        agreement: (() => {
          const a = JSON.parse(g.agreement);
          a.tariff.pricing.tiers[1].unitPrice = "0.0263";
          return JSON.stringify(a);
        })(),
      },
      codes: ["verifier.invoice.lineMismatch", "verifier.invoice.totalMismatch"],
      where: "invoice line 3 (usage tier 2)",
    },
    {
      name: "inflated invoice line",
      files: {
        ...base,
        invoice: (() => {
          const inv = JSON.parse(g.invoice);
          const line = inv.lines[1];
          line.amount = (Number(line.amount) + 10).toFixed(2);
          inv.total = (Number(inv.total) + 10).toFixed(2);
          return JSON.stringify(inv);
        })(),
      },
      codes: ["verifier.invoice.lineMismatch", "verifier.invoice.totalMismatch"],
      where: "invoice line 2 (usage tier 1)",
    },
  ];
}
