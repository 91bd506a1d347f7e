import { addQuantities, dec, quantity } from "../quantity.js";
import type { OeeResult, OeeTimeElements } from "../timeElements.js";
import { oeeKpis } from "./oeeKpis.js";

const ZERO_ELEMENTS: OeeTimeElements = {
  pot: 0n,
  pdot: 0n,
  pbt: 0n,
  apt: 0n,
  aust: 0n,
  adet: 0n,
  adot: 0n,
  microStop: 0n,
  unobserved: 0n,
};

/**
 * Combines OEE results of several windows (a shift, a day, a month, or several machines) the
 * ISO 22400 way: time elements, counts and ideal production time are summed and the KPIs are
 * computed once from the sums — ratios are never averaged (an average of per-window ratios
 * weighs a 5-minute window like an 8-hour one).
 *
 * @param results the windows' `oee` results. An empty list gives zero elements and undefined
 *   ratios (`pbt.zero`). Counts in different units throw `metering.quantity.unitMismatch`.
 * @returns one `OeeResult` over all of them.
 * @example
 * ```ts
 * const shift = rollUpOee(windows.map((w) => w.oee!));
 * if (shift.oee.defined) console.log(shift.oee.value.mul(100).toFixed(1), "%");
 * ```
 */
export function rollUpOee(results: readonly OeeResult[]): OeeResult {
  const first = results[0];
  if (first === undefined) {
    return oeeKpis({
      timeElements: ZERO_ELEMENTS,
      producedQuantity: quantity(0, "C62"),
      goodQuantity: quantity(0, "C62"),
      idealProductionTimeMs: dec(0),
      microStopCount: 0,
      countUnit: "C62",
    });
  }
  const sum: Record<keyof OeeTimeElements, bigint> = { ...ZERO_ELEMENTS };
  const keys = Object.keys(ZERO_ELEMENTS) as (keyof OeeTimeElements)[];
  let produced = quantity(0, first.producedQuantity.unit, first.producedQuantity.basis);
  let good = quantity(0, first.producedQuantity.unit, first.producedQuantity.basis);
  let ideal = dec(0);
  let microStopCount = 0;
  for (const r of results) {
    for (const k of keys) sum[k] += r.timeElements[k];
    produced = addQuantities(produced, r.producedQuantity);
    good = addQuantities(good, r.goodQuantity);
    ideal = ideal.plus(r.idealProductionTimeMs);
    microStopCount += r.microStopCount;
  }
  return oeeKpis({
    timeElements: sum,
    producedQuantity: produced,
    goodQuantity: good,
    idealProductionTimeMs: ideal,
    microStopCount,
    countUnit: produced.unit,
  });
}
