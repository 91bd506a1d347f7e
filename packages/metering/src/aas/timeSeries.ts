import type * as AasCore from "@aas-core-works/aas-core3.0-typescript";
import type { Decimal } from "decimal.js";
import { dec } from "../quantity.js";
import { meterRecordDigest } from "../records/encodeMeterRecord.js";
import type { MeterRecord } from "../records/meterRecord.js";
import type { AasBuilder } from "./aasElements.js";
import { MAASKIT, TIME_SERIES } from "./semanticIds.js";

/** A billing period `[start, end)`: one Time Series segment each. */
export interface AasPeriod {
  readonly start: Date;
  readonly end: Date;
}

/** What one segment holds. */
export interface AasSegmentSummary {
  /** The segment's idShort in the submodel. */
  readonly idShort: string;
  /** The billing period, or `null` for the records of no given period. */
  readonly period: AasPeriod | null;
  readonly records: number;
  /** Sum of the records' billed quantities (the invoice's usage for a billed period). */
  readonly total: Decimal;
}

/**
 * IDTA 02008 Time Series Data of the billed channel: one internal segment per billing
 * period, each record one time series record (its window start as the UTC time; register,
 * delta, seq and the record's EIP-712 digest as variables). Records in no given period go
 * to a last segment `Unbilled` (state `in progress`); none is dropped.
 */
export function timeSeriesSubmodel(
  b: AasBuilder,
  id: string,
  records: readonly MeterRecord[],
  periods: readonly AasPeriod[],
): { submodel: AasCore.types.Submodel; segments: AasSegmentSummary[] } {
  const first = records[0];
  const unit = first?.quantity.unit ?? "";
  const groups = periods.map((period) => ({ period, records: [] as MeterRecord[] }));
  const unbilled: MeterRecord[] = [];
  for (const r of records) {
    const t = r.periodStart.getTime();
    const g = groups.find(
      ({ period }) => t >= period.start.getTime() && r.periodEnd.getTime() <= period.end.getTime(),
    );
    (g?.records ?? unbilled).push(r);
  }
  const all = [
    ...groups.map((g, i) => ({ ...g, idShort: `Segment${String(i + 1).padStart(3, "0")}` })),
    ...(unbilled.length > 0
      ? [{ period: null, records: unbilled, idShort: "Unbilled" as string }]
      : []),
  ];
  const segments: AasSegmentSummary[] = [];
  const elements = all.map((g) => {
    const total = g.records.reduce((sum, r) => sum.plus(r.quantity.value), dec(0));
    segments.push({ idShort: g.idShort, period: g.period, records: g.records.length, total });
    const start = g.period?.start ?? g.records[0]?.periodStart;
    const end = g.period?.end ?? g.records.at(-1)?.periodEnd;
    return b.collection(g.idShort, TIME_SERIES.internalSegment, [
      b.text(
        "Name",
        TIME_SERIES.segmentName,
        g.period === null
          ? "Records in no billing period given"
          : `Billing period ${g.period.start.toISOString()} – ${g.period.end.toISOString()}`,
      ),
      b.property("RecordCount", TIME_SERIES.recordCount, String(g.records.length), "long"),
      ...(start === undefined
        ? []
        : [b.property("StartTime", TIME_SERIES.startTime, start.toISOString(), "dateTime")]),
      ...(end === undefined
        ? []
        : [b.property("EndTime", TIME_SERIES.endTime, end.toISOString(), "dateTime")]),
      b.property("State", TIME_SERIES.state, g.period === null ? "in progress" : "completed"),
      b.property("Total", MAASKIT.total, total.toFixed(), "decimal"),
      b.collection(
        "Records",
        TIME_SERIES.records,
        g.records.map((r) => recordElement(b, r)),
      ),
    ]);
  });
  const metadata = b.collection("Metadata", TIME_SERIES.metadata, [
    b.text(
      "Name",
      TIME_SERIES.metadataName,
      `Metered usage of ${first?.machineId ?? "the machine"} (${first?.channel ?? "—"})`,
    ),
    b.text(
      "Description",
      TIME_SERIES.metadataDescription,
      "One record per signed maaskit meter record: window start (UTC), raw register at the window end, billed quantity, seq and the record's EIP-712 digest.",
    ),
    b.property("Unit", MAASKIT.unit, unit),
    b.collection("Record", TIME_SERIES.record, [
      b.property("Time", TIME_SERIES.utcTime, undefined, "dateTime"),
      b.property("Register", MAASKIT.register, undefined, "decimal"),
      b.property("Delta", MAASKIT.delta, undefined, "decimal"),
      b.property("Seq", MAASKIT.seq, undefined, "unsignedLong"),
      b.property("RecordHash", MAASKIT.recordHash, undefined),
    ]),
  ]);
  const submodel = b.submodel(id, "TimeSeries", TIME_SERIES.submodel, [
    metadata,
    b.collection("Segments", TIME_SERIES.segments, elements),
  ]);
  return { submodel, segments };
}

function recordElement(b: AasBuilder, r: MeterRecord): AasCore.types.SubmodelElementCollection {
  return b.collection(`Record${String(r.seq)}`, TIME_SERIES.record, [
    b.property("Time", TIME_SERIES.utcTime, r.periodStart.toISOString(), "dateTime"),
    ...(r.register === undefined
      ? []
      : [b.property("Register", MAASKIT.register, r.register.end.toFixed(), "decimal")]),
    b.property("Delta", MAASKIT.delta, r.quantity.value.toFixed(), "decimal"),
    b.property("Seq", MAASKIT.seq, String(r.seq), "unsignedLong"),
    b.property("RecordHash", MAASKIT.recordHash, meterRecordDigest(r)),
  ]);
}
