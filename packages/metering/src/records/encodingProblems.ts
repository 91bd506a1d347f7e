import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import type { Quantity } from "../quantity.js";
import {
  GENESIS_HASH,
  METER_RECORD_DECIMALS,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  type RecordFlags,
  type RegisterSpan,
} from "./meterRecord.js";
import type { MeterRecordErrorCode } from "./meterRecordErrors.js";
import {
  HEX32,
  MAX_UINT128,
  NO_REGISTER_FLAG,
  UNIT,
  unitToBytes8,
  VOLUME_BASIS_CODES,
} from "./meterRecordTypedData.js";

/**
 * Collects every encoding problem of a record so one error names them all.
 * @internal
 */
export class EncodingProblems {
  readonly list: { field: string; problem: string; code: MeterRecordErrorCode }[] = [];

  add(field: string, problem: string, code: MeterRecordErrorCode = "metering.record.malformed") {
    this.list.push({ field, problem, code });
  }

  throwIfAny(what = "Record"): void {
    const first = this.list[0];
    if (first === undefined) return;
    throw new MaaskitError(
      first.code,
      `${what} cannot be encoded: ${first.field} ${first.problem}${this.list.length > 1 ? ` (and ${this.list.length - 1} more)` : ""}`,
      { details: { problems: this.list } },
    );
  }

  /** Scales an exact decimal to a uint128 with 9 decimals, or records why it can't. */
  fixed(d: Decimal | undefined, field: string): bigint {
    if (d === undefined || typeof d !== "object" || typeof d.toFixed !== "function") {
      this.add(field, "must be a Decimal");
      return 0n;
    }
    if (!d.isFinite()) {
      this.add(field, "must be finite", "metering.record.notRepresentable");
      return 0n;
    }
    if (d.isNegative() && !d.isZero()) {
      this.add(field, "must not be negative", "metering.record.notRepresentable");
      return 0n;
    }
    const text = d.abs().toFixed();
    const dot = text.indexOf(".");
    const int = dot < 0 ? text : text.slice(0, dot);
    const frac = dot < 0 ? "" : text.slice(dot + 1);
    if (frac.length > METER_RECORD_DECIMALS) {
      this.add(
        field,
        `has more than ${METER_RECORD_DECIMALS} decimals (${text})`,
        "metering.record.notRepresentable",
      );
      return 0n;
    }
    const v = BigInt(int + frac.padEnd(METER_RECORD_DECIMALS, "0"));
    if (v > MAX_UINT128) {
      this.add(field, "does not fit in uint128", "metering.record.notRepresentable");
      return 0n;
    }
    return v;
  }

  uint(v: unknown, bits: number, field: string): number {
    if (
      typeof v !== "number" ||
      !Number.isSafeInteger(v) ||
      v < 0 ||
      (bits < 53 && v >= 2 ** bits)
    ) {
      this.add(field, `must be an integer in uint${bits}`);
      return 0;
    }
    return v;
  }

  time(v: unknown, field: string): bigint {
    if (!(v instanceof Date) || Number.isNaN(v.getTime()) || v.getTime() < 0) {
      this.add(field, "must be a valid Date at or after 1970");
      return 0n;
    }
    return BigInt(v.getTime());
  }

  text(v: unknown, field: string): string {
    if (typeof v !== "string" || v.length === 0) {
      this.add(field, "must be a non-empty string");
      return "";
    }
    return v;
  }

  hash32(v: unknown, field: string): string {
    if (typeof v !== "string" || !HEX32.test(v)) {
      this.add(field, "must be 32 bytes of lowercase 0x hex");
      return GENESIS_HASH;
    }
    return v;
  }

  unit(q: Quantity | undefined, field: string): { unit: string; basis: number } {
    if (q === undefined || typeof q !== "object") {
      this.add(field, "must be a quantity");
      return { unit: `0x${"00".repeat(8)}`, basis: 0 };
    }
    let unit = `0x${"00".repeat(8)}`;
    if (typeof q.unit !== "string" || !UNIT.test(q.unit)) {
      this.add(`${field}.unit`, "must be a UNECE code of 1-8 characters [A-Z0-9]");
    } else {
      unit = unitToBytes8(q.unit);
    }
    let basis = 0;
    if (q.basis !== undefined) {
      const code = VOLUME_BASIS_CODES[q.basis];
      if (code === undefined) this.add(`${field}.basis`, "is not a known volume basis");
      else basis = code;
    }
    return { unit, basis };
  }

  flags(f: RecordFlags | undefined, register: RegisterSpan | undefined, field: string): number {
    if (f === undefined || typeof f !== "object") {
      this.add(field, "must be an object of flags");
      return 0;
    }
    let bits = 0;
    for (const name of RECORD_FLAG_NAMES) if (f[name] === true) bits |= 1 << RECORD_FLAG_BITS[name];
    return register === undefined ? bits | NO_REGISTER_FLAG : bits;
  }

  register(r: RegisterSpan | undefined, field: string): { start: bigint; end: bigint } {
    if (r === undefined) return { start: 0n, end: 0n };
    return { start: this.fixed(r.start, `${field}.start`), end: this.fixed(r.end, `${field}.end`) };
  }
}
