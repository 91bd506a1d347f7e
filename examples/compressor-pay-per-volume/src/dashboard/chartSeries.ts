import type { MeterRecord, MeterWindow, OeeRatio, OeeResult, Reading } from "@maaskit/metering";
import type { Agreement, Invoice } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";

/** A point of a chart: time (Unix ms) and an exact decimal as a string. */
export type ChartPoint = readonly [number, string];

/** The series the dashboard charts draw (decimals as strings, times in Unix ms). */
export interface DashboardCharts {
  /** Flow over time, in `flowUnit`. */
  readonly flow: readonly ChartPoint[];
  readonly flowUnit?: string;
  /** Delivered volume since the first register reading (m³). */
  readonly volume: readonly ChartPoint[];
  /** The open billing period: usage and the invoice after each record, against the tiers. */
  readonly period?: {
    readonly start: number;
    readonly end: number;
    readonly unit: string;
    readonly currency: string;
    /** Usage at which a tier ends (the included volume first), in the period's usage. */
    readonly tierBounds: readonly { readonly label: string; readonly usage: string }[];
    /** After each record: its end, the period's usage so far, the invoice total so far. */
    readonly points: readonly (readonly [number, string, string])[];
  };
  /** OEE per window (ISO 22400): end, availability, effectiveness, quality, OEE (null: undefined). */
  readonly oee: readonly (readonly [
    number,
    string | null,
    string | null,
    string | null,
    string | null,
  ])[];
  /** Filter differential pressure (bar) and the maintenance plan's threshold. */
  readonly filterDp: readonly ChartPoint[];
  readonly filterThreshold?: string;
}

/** At most this many points per series: older ones are thinned (every other one dropped). */
const MAX_POINTS = 1500;
/** A reading is charted at most once per this much source time (per channel). */
const MIN_STEP_MS = 60_000;

function push(series: ChartPoint[], last: Map<string, number>, key: string, t: number, v: string) {
  if (t - (last.get(key) ?? Number.NEGATIVE_INFINITY) < MIN_STEP_MS) return;
  last.set(key, t);
  series.push([t, v]);
  if (series.length > MAX_POINTS) {
    const kept = series.filter((_, i) => i % 2 === 1 || i === series.length - 1);
    series.splice(0, series.length, ...kept);
  }
}

/**
 * Collects the dashboard's chart series from the gateway's readings, records and priced
 * periods. `filterThreshold` is the maintenance plan's filter trigger (bar), drawn as a line.
 */
export function createChartSeries(options: { filterThreshold?: string } = {}) {
  const flow: ChartPoint[] = [];
  const volume: ChartPoint[] = [];
  const filterDp: ChartPoint[] = [];
  const oee: [number, string | null, string | null, string | null, string | null][] = [];
  const last = new Map<string, number>();
  let flowUnit: string | undefined;
  let firstRegister: Decimal | undefined;
  let period: DashboardCharts["period"] & { points: [number, string, string][] };

  return {
    reading(r: Reading) {
      if (r.quality !== "good" || typeof r.value !== "object") return;
      const t = r.sourceTime.getTime();
      const value = r.value as Decimal;
      if (r.channel === "flow") {
        flowUnit = r.unit;
        push(flow, last, "flow", t, value.toFixed());
      } else if (r.channel === "volume") {
        firstRegister ??= value;
        push(volume, last, "volume", t, value.minus(firstRegister).toFixed());
      } else if (r.channel === "filterDp") push(filterDp, last, "filterDp", t, value.toFixed());
    },
    record(rec: MeterRecord, window: MeterWindow<OeeResult> | undefined) {
      const o = window?.oee;
      if (o !== undefined) {
        const ratio = (x: OeeRatio) => (x.defined ? x.value.toFixed() : null);
        oee.push([
          rec.periodEnd.getTime(),
          ratio(o.availability),
          ratio(o.effectiveness),
          ratio(o.quality),
          ratio(o.oee),
        ]);
        if (oee.length > MAX_POINTS) oee.shift();
      }
    },
    /** The running invoice of the open period after `rec` (priced by the feed). */
    priced(rec: MeterRecord, invoice: Invoice, agreement: Agreement) {
      const start = invoice.period.start.getTime();
      if (period === undefined || period.start !== start) {
        const tariff = agreement.tariff;
        const included = tariff.includedVolume;
        const bounds: { label: string; usage: string }[] = [];
        if (included.gt(0)) bounds.push({ label: "included", usage: included.toFixed() });
        if (tariff.pricing.model !== "perUnit") {
          tariff.pricing.tiers.forEach((tier, i) => {
            if (tier.upTo !== null)
              bounds.push({
                label: `tier ${i + 1} ends`,
                usage: tier.upTo.plus(included).toFixed(),
              });
          });
        }
        period = {
          start,
          end: invoice.period.end.getTime(),
          unit: invoice.usage.unit,
          currency: invoice.currency.symbol,
          tierBounds: bounds,
          points: [],
        };
      }
      period.points.push([
        rec.periodEnd.getTime(),
        invoice.usage.value.toFixed(),
        invoice.total.toFixed(),
      ]);
    },
    snapshot(): DashboardCharts {
      return {
        flow: [...flow],
        ...(flowUnit === undefined ? {} : { flowUnit }),
        volume: [...volume],
        ...(period === undefined ? {} : { period: { ...period, points: [...period.points] } }),
        oee: [...oee],
        filterDp: [...filterDp],
        ...(options.filterThreshold === undefined
          ? {}
          : { filterThreshold: options.filterThreshold }),
      };
    },
  };
}
