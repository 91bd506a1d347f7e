import { Wallet } from "ethers";
import { beforeAll, describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { hashLogEntry, type LogEntry, signLogEntry } from "../log/signedLog.js";
import { dec } from "../quantity.js";
import { meterRecordDigest } from "../records/encodeMeterRecord.js";
import type { MeterRecord } from "../records/meterRecord.js";
import { sampleChain, TEST_KEY } from "../records/sampleMeterRecords.js";
import { loadAasCore } from "./aasCore.js";
import { type AasNameplate, exportAas, verifyAasEnvironment } from "./exportAas.js";

const nameplate: AasNameplate = {
  uriOfTheProduct: "urn:example:compressor:SN-7",
  manufacturerName: "Example Kompressoren GmbH",
  manufacturerProductDesignation: "Screw compressor 12.5 m³/min",
  serialNumber: "SN-7",
  yearOfConstruction: "2024",
};
const HOUR = 3_600_000;
const START = Date.UTC(2025, 0, 1);

let records: MeterRecord[];
let history: LogEntry[];
beforeAll(async () => {
  records = await sampleChain(10);
  const key = new Wallet(TEST_KEY);
  const logId = "maintenance/compressor-7";
  const add = async (type: string, minutes: number, payload: unknown) => {
    const e = await signLogEntry(
      { logId, type, at: new Date(START + minutes * 60_000), payload, head: history.at(-1) },
      key,
    );
    history.push(e);
  };
  history = [];
  await add("trigger", 10, { conditionId: "filter", value: "0.61" });
  await add("serviceRequest", 11, {
    id: "compressor-7/filter/1",
    conditionId: "filter",
    serviceType: "filterChange",
    priority: "high",
    faultStart: "2025-01-01T00:10:00.000Z",
    errorCode: "dp.high",
    description: "Filter differential pressure above 0.6 bar",
  });
  await add("workOrder.opened", 12, { workOrderId: "compressor-7/filter/1" });
  await add("workOrder.paid", 90, { workOrderId: "compressor-7/filter/1", amount: "120" });
  await add("service.performed", 91, {
    serviceType: "filterChange",
    conditionId: "filter",
    workOrderId: "compressor-7/filter/1",
  });
});

/** Every value of the properties named `idShort` anywhere under `node`. */
function values(node: unknown, idShort: string): string[] {
  const out: string[] = [];
  const walk = (n: unknown) => {
    if (Array.isArray(n)) n.forEach(walk);
    else if (n !== null && typeof n === "object") {
      const o = n as Record<string, unknown>;
      if (o.idShort === idShort && typeof o.value === "string") out.push(o.value);
      for (const v of Object.values(o)) walk(v);
    }
  };
  walk(node);
  return out;
}

function submodel(env: Record<string, unknown>, idShort: string): Record<string, unknown> {
  const subs = env.submodels as Record<string, unknown>[];
  return subs.find((s) => s.idShort === idShort)!;
}

describe("exportAas", () => {
  test("default: nameplate, time series per period, service requests — zero aas-core errors, round-trips", () => {
    const periods = [
      { start: new Date(START), end: new Date(START + HOUR) },
      { start: new Date(START + HOUR), end: new Date(START + 2 * HOUR) },
    ];
    const out = exportAas({
      id: "urn:example:twin:compressor-7",
      nameplate,
      records,
      periods,
      history,
    });
    expect(verifyAasEnvironment(JSON.parse(out.json))).toEqual([]);
    // round trip: aas-core reads the file back to the same JSON, byte for byte
    const core = loadAasCore();
    const back = core.jsonization.environmentFromJsonable(JSON.parse(out.json));
    expect(back.error).toBeNull();
    expect(`${JSON.stringify(core.jsonization.toJsonable(back.value!), null, 2)}\n`).toBe(out.json);
    // the same input gives the same bytes
    expect(
      exportAas({ id: "urn:example:twin:compressor-7", nameplate, records, periods, history }).json,
    ).toBe(out.json);

    // time series: 4 + 4 records in the two hours, the last 2 in no period ("Unbilled")
    expect(out.segments.map((s) => [s.idShort, s.records])).toEqual([
      ["Segment001", 4],
      ["Segment002", 4],
      ["Unbilled", 2],
    ]);
    const ts = submodel(out.environment, "TimeSeries");
    const segs = (ts.submodelElements as Record<string, unknown>[])[1]!.value as Record<
      string,
      unknown
    >[];
    for (const [i, seg] of segs.entries()) {
      const deltas = values(seg, "Delta").map((v) => dec(v));
      const sum = deltas.reduce((a, d) => a.plus(d), dec(0));
      const expected = out.segments[i]!.total;
      expect(sum.eq(expected)).toBe(true);
      expect(values(seg, "Total")).toEqual([expected.toFixed()]);
    }
    const firstHour = records.slice(0, 4).reduce((a, r) => a.plus(r.quantity.value), dec(0));
    expect(out.segments[0]!.total.eq(firstHour)).toBe(true);
    expect(values(ts, "RecordHash")).toEqual(records.map((r) => meterRecordDigest(r)));
    expect(values(ts, "Seq")).toEqual(records.map((r) => String(r.seq)));
    expect(values(ts, "Register")).toEqual(records.map((r) => r.register!.end.toFixed()));

    // service requests: one notification, its status after the last entry; every log
    // entry's digest is in the twin
    const sr = submodel(out.environment, "ServiceRequestNotification");
    expect(values(sr, "NumberOfServiceRequestNotifications")).toEqual(["1"]);
    expect(values(sr, "Status")).toEqual(["completed"]);
    expect(values(sr, "Priority")).toEqual(["High"]);
    expect(values(sr, "ServiceType")).toEqual(["filterChange"]);
    expect(values(sr, "EntryHash").sort()).toEqual(history.map((e) => hashLogEntry(e)).sort());

    const np = submodel(out.environment, "Nameplate");
    expect(values(np, "SerialNumber")).toEqual(["SN-7"]);
    expect((np.semanticId as { keys: { value: string }[] }).keys[0]!.value).toBe(
      "https://admin-shell.io/zvei/nameplate/2/0/Nameplate",
    );
  });

  test("error: bad input is metering.aas.invalidInput naming every problem", () => {
    let caught: unknown;
    try {
      exportAas({
        id: "",
        nameplate: { ...nameplate, serialNumber: "" },
        records: [records[0]!, records[2]!],
        periods: [{ start: new Date(START + HOUR), end: new Date(START) }],
      });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.aas.invalidInput")).toBe(true);
    expect((caught as { details: { problems: string[] } }).details.problems).toEqual([
      "id: must be a non-empty IRI",
      "nameplate.serialNumber: must be a non-empty string",
      "records[1]: seq 2 does not follow 0",
      "periods[0]: must end after it starts",
    ]);
  });

  test("error: a tampered file is reported by verifyAasEnvironment, not accepted", () => {
    const out = exportAas({ id: "urn:example:twin:compressor-7", nameplate, records });
    const env = JSON.parse(out.json);
    env.submodels[0].submodelElements[0].idShort = "1 not an idShort";
    expect(verifyAasEnvironment(env).join("\n")).toContain("idShort");
  });

  test("error: without aas-core the entry fails with maaskit.dependency.missing naming the package", () => {
    let caught: unknown;
    try {
      loadAasCore("@aas-core-works/not-installed");
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "maaskit.dependency.missing")).toBe(true);
    expect((caught as { details: unknown }).details).toEqual({
      package: "@aas-core-works/not-installed",
      entry: "@maaskit/metering/aas",
    });
  });
});
