import { toDecimal } from "@maaskit/metering";
import { Decimal } from "decimal.js";

/**
 * Tagged JSON for the ledger's saved state: plain JSON plus Decimal, Date, bigint, Map and
 * Set, each as a one-key object (`{"$dec":"1.5"}`), so a state saved and restored is
 * equal to the original — including fields added to the rules later.
 * @internal
 */
export function encodeState(value: unknown): string {
  return JSON.stringify(tag(value));
}

/** Inverse of {@link encodeState}. @internal */
export function decodeState<T = unknown>(text: string): T {
  return untag(JSON.parse(text)) as T;
}

function tag(v: unknown): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`cannot save the number ${v}`);
    return v;
  }
  if (typeof v === "bigint") return { $big: v.toString() };
  if (v === undefined) return { $undef: 1 };
  if (Decimal.isDecimal(v)) return { $dec: (v as Decimal).toFixed() };
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [tag(k), tag(x)]) };
  if (v instanceof Set) return { $set: [...v].map(tag) };
  if (Array.isArray(v)) return v.map(tag);
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new Error(`cannot save an instance of ${proto?.constructor?.name ?? "unknown"}`);
    }
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = tag(x);
    return out;
  }
  throw new Error(`cannot save a ${typeof v}`);
}

function untag(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(untag);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    if (k === "$big") return BigInt(o.$big as string);
    if (k === "$undef") return undefined;
    if (k === "$dec") return toDecimal(o.$dec as string);
    if (k === "$date") return new Date(o.$date as number);
    if (k === "$map")
      return new Map((o.$map as [unknown, unknown][]).map(([a, b]) => [untag(a), untag(b)]));
    if (k === "$set") return new Set((o.$set as unknown[]).map(untag));
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = untag(x);
  return out;
}
