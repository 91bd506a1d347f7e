import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, hashLogEntry, meterRecordDigest, runCli } from "@maaskit/metering";
import { verifyAasEnvironment } from "@maaskit/metering/aas";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GenuineExport, genuineExport } from "./genuineExport.js";

let g: GenuineExport;
let dir: string;
beforeAll(async () => {
  g = await genuineExport();
  dir = mkdtempSync(join(tmpdir(), "maaskit-vw-aas-"));
  for (const [name, text] of [
    ["records.jsonl", g.records],
    ["invoice.json", g.invoice],
    ["history.jsonl", g.history],
    [
      "nameplate.json",
      JSON.stringify({
        uriOfTheProduct: "urn:example:compressor:compressor-7",
        manufacturerName: "Example Kompressoren GmbH",
        manufacturerProductDesignation: "Screw compressor, 12.5 m³/min",
        serialNumber: "compressor-7",
        yearOfConstruction: "2024",
      }),
    ],
  ] as const)
    writeFileSync(join(dir, name), text);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Node = { idShort?: string; value?: unknown };
function all(n: unknown, idShort: string): string[] {
  if (Array.isArray(n)) return n.flatMap((c) => all(c, idShort));
  if (n === null || typeof n !== "object") return [];
  const o = n as Node;
  return [
    ...(o.idShort === idShort && typeof o.value === "string" ? [o.value] : []),
    ...Object.values(o).flatMap((c) => all(c, idShort)),
  ];
}

describe("maaskit export aas on a settled export", () => {
  it("zero aas-core errors; the Time Series total is the ledger's invoice usage; the history hashes are the signed log's", async () => {
    const out = join(dir, "compressor-7.aas.json");
    const err: string[] = [];
    const code = await runCli(
      [
        "export",
        "aas",
        "--records",
        join(dir, "records.jsonl"),
        "--invoice",
        join(dir, "invoice.json"),
        "--history",
        join(dir, "history.jsonl"),
        "--nameplate",
        join(dir, "nameplate.json"),
        "--id",
        "urn:example:twin:compressor-7",
        "--signer",
        g.agreementValue.signers[0]!.address,
        "--out",
        out,
      ],
      { stdout: () => undefined, stderr: (t) => err.push(t) },
    );
    expect(code, err.join("")).toBe(0);
    const env = JSON.parse(readFileSync(out, "utf8"));
    expect(verifyAasEnvironment(env)).toEqual([]);
    const timeSeries = (env.submodels as Node[]).find((s) => s.idShort === "TimeSeries");
    const total = all(timeSeries, "Delta").reduce((a, v) => a.plus(dec(v)), dec(0));
    expect(total.toFixed()).toBe(g.ledgerInvoice.usage.value.toFixed());
    expect(all(timeSeries, "RecordHash")).toEqual(g.recordList.map((r) => meterRecordDigest(r)));
    expect(all(timeSeries, "Total")).toEqual([g.ledgerInvoice.usage.value.toFixed()]);
    const requests = (env.submodels as Node[]).find(
      (s) => s.idShort === "ServiceRequestNotification",
    );
    expect(all(requests, "EntryHash").sort()).toEqual(
      g.historyEntries.map((e) => hashLogEntry(e)).sort(),
    );
    expect(all(requests, "Status")).toEqual(["completed"]);
  });
});
