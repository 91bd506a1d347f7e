import { dec, MaaskitError, type Reading } from "@maaskit/metering";
import type { Decimal } from "decimal.js";

/**
 * ISO 13374 processing blocks a maintenance signal passes through: state detection
 * (a measured value crossed a limit), health assessment (the asset's condition is judged
 * from trends or intervals), advisory generation (a maintenance action is recommended).
 */
export type Iso13374Stage = "stateDetection" | "healthAssessment" | "advisoryGeneration";

/** How urgent an advisory is; `cleared` ends a condition raised before. */
export type AdvisorySeverity = "preAlert" | "due" | "alarm" | "cleared";

/**
 * What a trigger emits: one condition of one machine changing severity. Triggers emit an
 * advisory only on a change, never once per reading.
 */
export interface MaintenanceAdvisory {
  readonly kind: "advisory";
  readonly machineId: string;
  /** Stable id of the monitored condition, e.g. `oil-change` or `air-filter-dp`. */
  readonly conditionId: string;
  readonly serviceType: string;
  readonly stage: Iso13374Stage;
  readonly severity: AdvisorySeverity;
  /** When the condition started (first reading beyond the limit), in source time. */
  readonly since: Date;
  /** Source time of the reading that caused this advisory. */
  readonly at: Date;
  /** Machine-readable cause, e.g. `interval.runHours`, `threshold.above`. */
  readonly errorCode: string;
  readonly message: string;
  /** The readings that made the trigger fire. */
  readonly readings: readonly Reading[];
}

/**
 * Marks a condition as serviced (a work order was completed and confirmed): interval and
 * depletion triggers restart counting from here; `serviceRequests` closes the open request.
 */
export interface ServicePerformedEvent {
  readonly kind: "servicePerformed";
  readonly machineId: string;
  readonly conditionId: string;
  readonly at: Date;
  /** Register values at service, so interval triggers restart from them. */
  readonly registers?: Readonly<Record<string, string>>;
}

/** What identifies the condition a trigger watches (from the trigger's options). */
interface ConditionOf {
  readonly machineId: string;
  readonly conditionId: string;
  readonly serviceType: string;
}

/** An advisory about `condition` at `stage` (members in the order every trigger emits them). */
export function advisoryOf(
  condition: ConditionOf,
  stage: Iso13374Stage,
  rest: Omit<MaintenanceAdvisory, "kind" | "machineId" | "conditionId" | "serviceType" | "stage">,
): MaintenanceAdvisory {
  return {
    kind: "advisory",
    machineId: condition.machineId,
    conditionId: condition.conditionId,
    serviceType: condition.serviceType,
    stage,
    ...rest,
  };
}

/** Throws `maintenance.trigger.invalidOptions` naming every problem of a trigger's options. */
export function assertTriggerOptions(
  trigger: string,
  problems: readonly string[],
  conditionId: string,
): void {
  if (problems.length === 0) return;
  throw new MaaskitError(
    "maintenance.trigger.invalidOptions",
    `${trigger} options: ${problems.join("; ")}`,
    { details: { problems, conditionId } },
  );
}

/** A positive decimal option; a problem is pushed (and `undefined` returned) when it is not. @internal */
export function optionalPositive(
  v: Decimal.Value | undefined,
  name: string,
  problems: string[],
): Decimal | undefined {
  if (v === undefined) return undefined;
  try {
    const d = dec(v);
    if (d.lte(0)) problems.push(`${name} must be > 0`);
    return d;
  } catch {
    problems.push(`${name} must be a decimal number`);
    return undefined;
  }
}
