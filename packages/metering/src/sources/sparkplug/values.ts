import type { Decimal } from "decimal.js";
import { Dec } from "../../quantity.js";
import type { ReadingValue } from "../../reading.js";

/** Sparkplug B datatype codes (Tahu `sparkplug_b.proto`, Sparkplug 3.0 §6.4.16). */
export const SparkplugDataType = {
  Int8: 1,
  Int16: 2,
  Int32: 3,
  Int64: 4,
  UInt8: 5,
  UInt16: 6,
  UInt32: 7,
  UInt64: 8,
  Float: 9,
  Double: 10,
  Boolean: 11,
  String: 12,
  DateTime: 13,
  Text: 14,
  UUID: 15,
} as const;

/** A metric value as it is on the wire: the protobuf `value` oneof, 64-bit fields as bigint. */
export type RawMetricValue =
  | { readonly case: "intValue"; readonly value: number }
  | { readonly case: "longValue"; readonly value: bigint }
  | { readonly case: "floatValue"; readonly value: number }
  | { readonly case: "doubleValue"; readonly value: number }
  | { readonly case: "booleanValue"; readonly value: boolean }
  | { readonly case: "stringValue"; readonly value: string }
  | { readonly case: string; readonly value: unknown }
  | { readonly case: undefined; readonly value?: undefined };

/** A decoded metric of any Sparkplug message, before its name and datatype are resolved. */
export interface SparkplugMetric {
  readonly name?: string;
  readonly alias?: bigint;
  /** ms since the epoch, exact. */
  readonly timestamp?: bigint;
  readonly datatype?: number;
  readonly isHistorical: boolean;
  readonly isNull: boolean;
  readonly value: RawMetricValue;
  /** Property "Quality" (an OPC-style code, 192 = good), when present. */
  readonly quality?: number;
}

/** A decoded Sparkplug B payload. */
export interface SparkplugPayload {
  readonly timestamp?: bigint;
  readonly seq?: bigint;
  readonly metrics: readonly SparkplugMetric[];
}

/** Why a raw value could not be read as the given datatype. */
export interface ValueProblem {
  readonly problem: "value.null" | "value.typeMismatch" | "value.unsupportedType";
}

const NULL: ValueProblem = { problem: "value.null" };
const MISMATCH: ValueProblem = { problem: "value.typeMismatch" };
const UNSUPPORTED: ValueProblem = { problem: "value.unsupportedType" };

/** Whether a {@link metricValue} result is a problem rather than a value. */
export function isValueProblem(v: ReadingValue | ValueProblem): v is ValueProblem {
  // the only problems metricValue returns: identity, no property lookup on every Decimal
  return v === NULL || v === MISMATCH || v === UNSUPPORTED;
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Exact: through `number` only where every integer is exact (Decimal's fast path for small ones). */
function decimalOfInt(v: bigint | number): Decimal {
  if (typeof v === "number") return new Dec(v);
  return v <= SAFE && v >= -SAFE ? new Dec(Number(v)) : new Dec(v.toString());
}

// Tahu and Ignition send small types in int_value or long_value: keep the declared width.
// Int8/16/32 travel as their two's complement in uint32 (Sparkplug 3.0 §6.4.16): sign-extend.
function integer(
  raw: RawMetricValue,
  bits: 8 | 16 | 32 | 64,
  signed: boolean,
): Decimal | undefined {
  if (raw.case === "intValue" && typeof raw.value === "number" && bits !== 64) {
    const v = raw.value;
    const shift = 32 - bits;
    // 32-bit integer arithmetic: exact for every value of these widths
    return decimalOfInt(signed ? (v << shift) >> shift : (v << shift) >>> shift);
  }
  if (raw.case === "longValue" && typeof raw.value === "bigint") {
    return decimalOfInt(signed ? BigInt.asIntN(bits, raw.value) : BigInt.asUintN(bits, raw.value));
  }
  return undefined;
}

/** The shortest decimal that reads back as the same 32-bit float (never the float64 expansion). */
export function float32ToDecimal(x: number): Decimal {
  const f = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return new Dec(s);
  }
  return new Dec(f.toString());
}

/**
 * The exact reading value of a raw metric value of `datatype`: every integer type through
 * bigint to Decimal (never through `number`), Float through its shortest float32 decimal,
 * Double through its shortest decimal, DateTime as exact ms since the epoch.
 */
export function metricValue(
  raw: RawMetricValue,
  datatype: number,
  isNull = false,
): ReadingValue | ValueProblem {
  if (isNull || raw.case === undefined) return NULL;
  let int: Decimal | undefined;
  switch (datatype) {
    case SparkplugDataType.Int8:
      int = integer(raw, 8, true);
      break;
    case SparkplugDataType.Int16:
      int = integer(raw, 16, true);
      break;
    case SparkplugDataType.Int32:
      int = integer(raw, 32, true);
      break;
    case SparkplugDataType.Int64:
      int = integer(raw, 64, true);
      break;
    case SparkplugDataType.UInt8:
      int = integer(raw, 8, false);
      break;
    case SparkplugDataType.UInt16:
      int = integer(raw, 16, false);
      break;
    case SparkplugDataType.UInt32:
      int = integer(raw, 32, false);
      break;
    case SparkplugDataType.UInt64:
    case SparkplugDataType.DateTime:
      int =
        raw.case === "longValue" && typeof raw.value === "bigint"
          ? decimalOfInt(raw.value)
          : undefined;
      break;
    case SparkplugDataType.Float:
      return raw.case === "floatValue" &&
        typeof raw.value === "number" &&
        Number.isFinite(raw.value)
        ? float32ToDecimal(raw.value)
        : MISMATCH;
    case SparkplugDataType.Double:
      return raw.case === "doubleValue" &&
        typeof raw.value === "number" &&
        Number.isFinite(raw.value)
        ? new Dec(raw.value.toString())
        : MISMATCH;
    case SparkplugDataType.Boolean:
      return raw.case === "booleanValue" && typeof raw.value === "boolean" ? raw.value : MISMATCH;
    case SparkplugDataType.String:
    case SparkplugDataType.Text:
    case SparkplugDataType.UUID:
      return raw.case === "stringValue" && typeof raw.value === "string" ? raw.value : MISMATCH;
    default:
      return UNSUPPORTED;
  }
  return int ?? MISMATCH;
}

/** The wire form of an exact value of `datatype` (the inverse of {@link metricValue}). */
export function rawValueOf(value: ReadingValue, datatype: number): RawMetricValue {
  const text = typeof value === "object" ? value.toFixed() : String(value);
  switch (datatype) {
    case SparkplugDataType.Int8:
    case SparkplugDataType.Int16:
    case SparkplugDataType.Int32:
    case SparkplugDataType.UInt8:
    case SparkplugDataType.UInt16:
    case SparkplugDataType.UInt32:
      return { case: "intValue", value: Number(BigInt.asUintN(32, BigInt(text))) };
    case SparkplugDataType.Int64:
    case SparkplugDataType.UInt64:
    case SparkplugDataType.DateTime:
      return { case: "longValue", value: BigInt.asUintN(64, BigInt(text)) };
    case SparkplugDataType.Float:
      return { case: "floatValue", value: Number(text) };
    case SparkplugDataType.Double:
      return { case: "doubleValue", value: Number(text) };
    case SparkplugDataType.Boolean:
      return { case: "booleanValue", value: value === true };
    default:
      return { case: "stringValue", value: text };
  }
}
