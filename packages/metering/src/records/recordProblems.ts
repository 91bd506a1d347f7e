import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import { type Quantity, type QuantityJson, quantityFromJson, toDecimal } from "../quantity.js";
import {
  CANONICAL_DECIMAL,
  CLOCK_STATUSES,
  type ClockStatus,
  type ExtraQuantity,
  ISO_MS,
  METER_RECORD_VERSION,
  type MeterExtras,
  type OeeElements,
  RECORD_FLAG_NAMES,
  type RecordFlags,
  type RegisterSpan,
} from "./meterRecord.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";

/** Collects structural problems so one error reports all of them. @internal */
export class Problems {
  readonly list: { field: string; problem: string }[] = [];

  add(field: string, problem: string): void {
    this.list.push({ field, problem });
  }

  error(code: MeterRecordErrorCode = "metering.record.malformed"): MaaskitError {
    const first = this.list[0];
    return new MaaskitError(
      code,
      `Record is malformed: ${first ? `${first.field} ${first.problem}` : "unknown problem"}${this.list.length > 1 ? ` (and ${this.list.length - 1} more)` : ""}`,
      { details: { problems: this.list } },
    );
  }

  /** Reports every member of `o` not in `allowed` (unsigned fields are malformed). */
  unknownKeys(o: Record<string, unknown>, field: string, allowed: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.add(`${field}.${k}`, "is not a member of the format");
    }
  }

  /** The binding members (version checked against {@link METER_RECORD_VERSION}), in order. */
  binding(o: Record<string, unknown>) {
    const version = this.int(o.version, "version");
    if (version !== undefined && version !== METER_RECORD_VERSION) {
      this.add("version", `unsupported version ${version}`);
    }
    return {
      version: METER_RECORD_VERSION,
      agreementId: this.string(o.agreementId, "agreementId"),
      chainId: this.int(o.chainId, "chainId"),
      verifyingContract: this.string(o.verifyingContract, "verifyingContract"),
      machineId: this.string(o.machineId, "machineId"),
      channel: this.string(o.channel, "channel"),
    };
  }

  object(v: unknown, field: string): Record<string, unknown> | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.add(field, "must be an object");
      return undefined;
    }
    return v as Record<string, unknown>;
  }

  string(v: unknown, field: string): string {
    if (typeof v !== "string" || v.length === 0) this.add(field, "must be a non-empty string");
    return v as string;
  }

  int(v: unknown, field: string): number {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      this.add(field, "must be a non-negative safe integer");
    }
    return v as number;
  }

  date(v: unknown, field: string): Date {
    if (typeof v !== "string" || !ISO_MS.test(v)) {
      this.add(field, "must be an ISO 8601 UTC time with milliseconds");
      return new Date(Number.NaN);
    }
    const d = new Date(v);
    if (Number.isNaN(d.getTime()) || d.toISOString() !== v) this.add(field, "is not a valid time");
    return d;
  }

  decimal(v: unknown, field: string): Decimal {
    if (typeof v !== "string" || !CANONICAL_DECIMAL.test(v)) {
      this.add(field, "must be a canonical decimal string (e.g. 12.5, not 12.50 or 1.25e1)");
      return toDecimal(0);
    }
    return toDecimal(v, field);
  }

  quantity(v: unknown, field: string): Quantity {
    const o = this.object(v, field);
    if (o === undefined) return { value: toDecimal(0), unit: "" };
    this.unknownKeys(o, field, ["value", "unit", "basis"]);
    if (typeof o.unit !== "string") this.add(`${field}.unit`, "must be a unit code");
    if (o.basis !== undefined && typeof o.basis !== "string") {
      this.add(`${field}.basis`, "must be a volume basis");
    }
    const value = this.decimal(o.value, `${field}.value`);
    return quantityFromJson({ ...(o as unknown as QuantityJson), value: value.toFixed() });
  }

  register(v: unknown, field: string): RegisterSpan | undefined {
    const o = this.object(v, field);
    if (o === undefined) return undefined;
    this.unknownKeys(o, field, ["start", "end"]);
    return {
      start: this.decimal(o.start, `${field}.start`),
      end: this.decimal(o.end, `${field}.end`),
    };
  }

  flags(v: unknown, field: string): RecordFlags {
    const o = this.object(v, field);
    if (o === undefined) return {};
    const out: Record<string, boolean> = {};
    for (const [k, val] of Object.entries(o)) {
      if (!(RECORD_FLAG_NAMES as readonly string[]).includes(k))
        this.add(`${field}.${k}`, "unknown flag");
      else if (val !== true) this.add(`${field}.${k}`, "must be true or absent");
      else out[k] = true;
    }
    return out as RecordFlags;
  }

  clock(v: unknown, field: string): ClockStatus {
    if (!CLOCK_STATUSES.includes(v as ClockStatus)) {
      this.add(field, `must be one of ${CLOCK_STATUSES.join(", ")}`);
    }
    return v as ClockStatus;
  }

  extras(v: unknown, field: string): MeterExtras | undefined {
    const o = this.object(v, field);
    if (o === undefined) return undefined;
    this.unknownKeys(o, field, ["quantities", "oee"]);
    if (!Array.isArray(o.quantities)) {
      this.add(`${field}.quantities`, "must be an array");
      return undefined;
    }
    const quantities: ExtraQuantity[] = o.quantities.map((q, i) => {
      const f = `${field}.quantities[${i}]`;
      const qo = this.object(q, f) ?? {};
      this.unknownKeys(qo, f, ["channel", "quantity", "register", "flags"]);
      const register =
        qo.register === undefined ? undefined : this.register(qo.register, `${f}.register`);
      return {
        channel: this.string(qo.channel, `${f}.channel`),
        quantity: this.quantity(qo.quantity, `${f}.quantity`),
        ...(register === undefined ? {} : { register }),
        flags: this.flags(qo.flags, `${f}.flags`),
      };
    });
    if (o.oee === undefined) return { quantities };
    const oo = this.object(o.oee, `${field}.oee`) ?? {};
    this.unknownKeys(oo, `${field}.oee`, [
      "plannedBusyTimeMs",
      "actualProductionTimeMs",
      "produced",
      "good",
    ]);
    const oee: OeeElements = {
      plannedBusyTimeMs: this.int(oo.plannedBusyTimeMs, `${field}.oee.plannedBusyTimeMs`),
      actualProductionTimeMs: this.int(
        oo.actualProductionTimeMs,
        `${field}.oee.actualProductionTimeMs`,
      ),
      produced: this.quantity(oo.produced, `${field}.oee.produced`),
      good: this.quantity(oo.good, `${field}.oee.good`),
    };
    return { quantities, oee };
  }
}
