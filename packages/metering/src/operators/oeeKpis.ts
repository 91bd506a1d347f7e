// Internal: the ISO 22400-2 KPI arithmetic shared by oee() and rollUpOee(), so a roll-up is
// computed from summed elements with exactly the same rules as a single window.
import type { Decimal } from "decimal.js";
import { dec, type Quantity } from "../quantity.js";
import type { OeeRatio, OeeResult, OeeTimeElements, OeeUndefinedReason } from "../timeElements.js";
import type { UnitCode } from "../units.js";

export interface KpiInput {
  readonly timeElements: OeeTimeElements;
  readonly producedQuantity: Quantity;
  readonly goodQuantity: Quantity;
  readonly idealProductionTimeMs: Decimal;
  readonly microStopCount: number;
  /** The unit counts must have; a count in another unit makes the ratios it feeds undefined. */
  readonly countUnit: UnitCode;
}

const ONE = dec(1);

/** Computes availability, effectiveness, quality rate and OEE from time elements and counts. */
export function oeeKpis(input: KpiInput): OeeResult {
  const te = input.timeElements;
  const pq = input.producedQuantity;
  const gq = input.goodQuantity;
  const pbt = dec(te.pbt);
  const apt = dec(te.apt);
  const unitProblem: OeeUndefinedReason | undefined =
    pq.unit !== input.countUnit
      ? "produced.unit"
      : gq.unit !== input.countUnit
        ? "good.unit"
        : undefined;

  const availability: OeeRatio = pbt.isZero()
    ? undefinedRatio("pbt.zero")
    : ratio(apt.div(pbt), false);

  const effectiveness: OeeRatio =
    pq.unit !== input.countUnit
      ? undefinedRatio("produced.unit")
      : apt.isZero()
        ? undefinedRatio("apt.zero")
        : ratio(input.idealProductionTimeMs.div(apt), true);

  const quality: OeeRatio =
    unitProblem !== undefined
      ? undefinedRatio(unitProblem)
      : pq.value.isZero()
        ? undefinedRatio("produced.zero")
        : ratio(gq.value.div(pq.value), true);

  // OEE = A·E·Q = (APT/PBT)·(PRI·PQ/APT)·(GQ/PQ) = PRI·GQ/PBT when all three are defined.
  // The right-hand side stays defined when APT or PQ is zero: a machine that stood still for
  // the whole planned busy time has OEE 0, not "undefined". One division, no compounded rounding.
  let oee: OeeRatio;
  if (unitProblem !== undefined) oee = undefinedRatio(unitProblem);
  else if (pbt.isZero()) oee = undefinedRatio("pbt.zero");
  else {
    const ideal = pq.value.isZero()
      ? input.idealProductionTimeMs.isZero()
        ? dec(0)
        : undefined
      : input.idealProductionTimeMs.mul(gq.value).div(pq.value);
    if (ideal === undefined) {
      // Ideal time without produced pieces: the counts and cycle time disagree.
      oee = undefinedRatio("produced.zero");
    } else {
      const value = ideal.div(pbt);
      const implausible =
        value.gt(ONE) ||
        isImplausible(effectiveness) ||
        isImplausible(quality) ||
        (pq.value.isZero() && !gq.value.isZero());
      oee = implausible ? { defined: true, value, implausible: true } : { defined: true, value };
    }
  }

  return {
    timeElements: te,
    producedQuantity: pq,
    goodQuantity: gq,
    idealProductionTimeMs: input.idealProductionTimeMs,
    microStopCount: input.microStopCount,
    availability,
    effectiveness,
    quality,
    oee,
  };
}

function ratio(value: Decimal, flagAboveOne: boolean): OeeRatio {
  return flagAboveOne && value.gt(ONE)
    ? { defined: true, value, implausible: true }
    : { defined: true, value };
}

function undefinedRatio(reason: OeeUndefinedReason): OeeRatio {
  return { defined: false, reason };
}

function isImplausible(r: OeeRatio): boolean {
  return r.defined && r.implausible === true;
}
