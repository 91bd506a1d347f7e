import { dec, type MeterRecord } from "@maaskit/metering";
import type { InvoiceLine, Tariff } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";

/** The records behind one invoice figure: a run of seqs. */
export interface RecordSpan {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
}

/**
 * Which records an invoice line is made of, following the order of the computation
 * (docs/tariffs.md): the records' usage accumulates in seq order; the included volume is
 * the first part of it, tier `i` of a graduated tariff the part of the billable rest
 * between the tier's bounds; a volume or per-unit price, the base fee and the minimum
 * top-up rest on the whole period; the SLA credit on the records with time elements.
 */
export function lineRecords(
  line: InvoiceLine,
  records: readonly MeterRecord[],
  tariff: Tariff,
): RecordSpan | null {
  const sorted = [...records].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
  const included = tariff.includedVolume;
  // [from, to) of each record in the billable usage (usage minus the included volume).
  let cumulative = dec(0);
  const spans = sorted.map((r) => {
    const from = cumulative;
    cumulative = cumulative.plus(r.quantity.value);
    return { record: r, from: from.minus(included), to: cumulative.minus(included) };
  });
  const within = (lower: Decimal | null, upper: Decimal | null) =>
    spans.filter(
      (s) =>
        s.to.gt(s.from) &&
        (lower === null || s.to.gt(lower)) &&
        (upper === null || s.from.lt(upper)),
    );
  let chosen: typeof spans;
  if (line.kind === "included") chosen = within(null, dec(0));
  else if (line.kind === "usage" && tariff.pricing.model === "graduated") {
    const tiers = tariff.pricing.tiers;
    const tier = line.tier ?? 0;
    const lower = tier === 0 ? dec(0) : (tiers[tier - 1]?.upTo ?? null);
    chosen = within(lower, tiers[tier]?.upTo ?? null);
  } else if (line.kind === "usage") chosen = within(dec(0), null);
  else if (line.kind === "slaCredit")
    chosen = spans.filter((s) => s.record.extras?.oee !== undefined);
  else chosen = spans;
  const first = chosen[0];
  const last = chosen.at(-1);
  if (first === undefined || last === undefined) return null;
  return {
    firstSeq: Number(first.record.seq),
    lastSeq: Number(last.record.seq),
    count: chosen.length,
  };
}
