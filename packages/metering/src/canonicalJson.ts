import { MaaskitError } from "./errors.js";

/**
 * How {@link writeCanonicalJson} treats values outside the JSON data model. The defaults are
 * RFC 8785 (JCS); a format that was specified with other rules names them here and keeps
 * its bytes (see `canonicalJsonLogV1`).
 * @internal
 */
export interface CanonicalJsonRules {
  /** Objects with a `toJSON` method (Date, Decimal) are written as what it returns (default true). */
  readonly toJSON?: boolean;
  /** A bigint: rejected (default) or written as its decimal string. */
  readonly bigint?: "reject" | "string";
  /** A string with an unpaired UTF-16 surrogate: rejected (default, I-JSON) or escaped. */
  readonly loneSurrogates?: "reject" | "escape";
  /** The code of the error thrown for a value it cannot write (default `metering.json.notCanonical`). */
  readonly errorCode?: string;
  /** What the value is, for the error message (default "The value"). */
  readonly what?: string;
}

/**
 * Canonical JSON per RFC 8785 (JSON Canonicalization Scheme): object members sorted by
 * name in UTF-16 code unit order, no whitespace, strings and numbers as ECMAScript's
 * `JSON.stringify` writes them (numbers in the shortest round-trip form: `1e+30`, `4.5`,
 * `0.002`), `undefined` members omitted and `undefined` array elements written `null`.
 * Non-finite numbers, unpaired surrogates, bigints, functions, symbols and class instances
 * without `toJSON` throw `metering.json.notCanonical` naming the path. Identical values give
 * identical bytes.
 *
 * @example canonicalJson({ b: 1, a: "x" }) // '{"a":"x","b":1}'
 */
export function canonicalJson(value: unknown): string {
  return writeCanonicalJson(value, {});
}

/**
 * The one canonical-JSON writer: RFC 8785 with the deviations `rules` names.
 * @internal
 */
export function writeCanonicalJson(value: unknown, rules: CanonicalJsonRules): string {
  return write(value, "$", rules, new Set());
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function write(value: unknown, path: string, rules: CanonicalJsonRules, seen: Set<object>): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "string":
      if ((rules.loneSurrogates ?? "reject") === "reject" && LONE_SURROGATE.test(value)) {
        throw notCanonical(rules, path, "a string with an unpaired surrogate");
      }
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw notCanonical(rules, path, "a non-finite number");
      // ECMAScript Number::toString (RFC 8785 §3.2.2.3); -0 is written 0.
      return JSON.stringify(value);
    case "bigint":
      if (rules.bigint === "string") return JSON.stringify(value.toString());
      throw notCanonical(rules, path, "a bigint");
    case "object":
      break;
    default:
      throw notCanonical(rules, path, `a ${typeof value}`);
  }
  const obj = value as object;
  if (seen.has(obj)) throw notCanonical(rules, path, "a cycle");
  const toJSON = (obj as { toJSON?: unknown }).toJSON;
  if ((rules.toJSON ?? true) && typeof toJSON === "function") {
    return write(toJSON.call(obj), path, rules, seen);
  }
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items = obj.map((v, i) =>
        v === undefined ? "null" : write(v, `${path}[${i}]`, rules, seen),
      );
      return `[${items.join(",")}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      throw notCanonical(rules, path, `an instance of ${proto?.constructor?.name ?? "a class"}`);
    }
    const record = obj as Record<string, unknown>;
    const parts: string[] = [];
    // Default sort compares UTF-16 code units, as RFC 8785 §3.2.3 requires.
    for (const key of Object.keys(record).sort()) {
      const v = record[key];
      if (v === undefined) continue;
      parts.push(
        `${write(key, `${path}.${key}`, rules, seen)}:${write(v, `${path}.${key}`, rules, seen)}`,
      );
    }
    return `{${parts.join(",")}}`;
  } finally {
    seen.delete(obj);
  }
}

function notCanonical(rules: CanonicalJsonRules, path: string, what: string): MaaskitError {
  return new MaaskitError(
    rules.errorCode ?? "metering.json.notCanonical",
    `${rules.what ?? "The value"} must be plain JSON; ${path} is ${what}`,
    { details: { path } },
  );
}
