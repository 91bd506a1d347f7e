import { MaaskitError } from "../errors.js";

/** A JSON value as the journal stores it. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit order, no whitespace, `undefined`
 * members omitted. The same value always gives the same bytes, so an entry's bytes can be
 * compared to decide whether a re-appended record is identical.
 * @internal
 */
export function canonicalJson(value: unknown): string {
  return write(value, "$");
}

function write(value: unknown, path: string): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) throw notJson(path, "a non-finite number");
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => (v === undefined ? "null" : write(v, `${path}[${i}]`))).join(",")}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw notJson(path, `an instance of ${proto?.constructor?.name ?? "a class"}`);
      }
      const obj = value as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(obj).sort()) {
        const v = obj[key];
        if (v === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${write(v, `${path}.${key}`)}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      throw notJson(path, `a ${typeof value}`);
  }
}

function notJson(path: string, what: string): MaaskitError {
  return new MaaskitError(
    "metering.journal.invalidConfig",
    `Journal entries must be plain JSON; ${path} is ${what}`,
    { details: { path } },
  );
}
