import { MaaskitError } from "./errors.js";

/** Codes of {@link parseStrictJson}. */
export type StrictJsonErrorCode =
  | "metering.json.invalid"
  | "metering.json.duplicateKey"
  | "metering.json.nonCanonicalNumber";

/**
 * Parses one JSON text strictly: valid JSON (RFC 8259), no member name twice in one object
 * (`JSON.parse` silently keeps the last one, so two readers could see two different
 * records), and every number written as `JSON.stringify` prints it (`1`, not `1.0`, `1e0`
 * or `-0`). Linear in the length of the text. Throws a `MaaskitError` naming the problem.
 *
 * @example const json = parseStrictJson(line);
 */
export function parseStrictJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MaaskitError<StrictJsonErrorCode>(
      "metering.json.invalid",
      `not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  scan(text);
  return value;
}

/** Frame of an object (its member names so far) or an array (null). */
type Frame = { names: Set<string>; expectName: boolean } | null;

// The text is valid JSON (JSON.parse accepted it), so a flat scan suffices: strings are
// skipped whole, and a string right after `{` or `,` inside an object is a member name.
function scan(text: string): void {
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (top?.expectName === true) {
        const raw = text.slice(i + 1, j);
        const name = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.names.has(name)) {
          throw new MaaskitError<StrictJsonErrorCode>(
            "metering.json.duplicateKey",
            `member ${JSON.stringify(name)} appears twice in one object`,
            { details: { name } },
          );
        }
        top.names.add(name);
        top.expectName = false;
      }
      i = j;
    } else if (c === 0x7b /* { */) stack.push({ names: new Set(), expectName: true });
    else if (c === 0x5b /* [ */) stack.push(null);
    else if (c === 0x7d /* } */ || c === 0x5d /* ] */) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top) top.expectName = true;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (
          !(
            (d >= 0x30 && d <= 0x39) ||
            d === 0x2e ||
            d === 0x65 ||
            d === 0x45 ||
            d === 0x2b ||
            d === 0x2d
          )
        )
          break;
      }
      const token = text.slice(i, j);
      if (String(Number(token)) !== token) {
        throw new MaaskitError<StrictJsonErrorCode>(
          "metering.json.nonCanonicalNumber",
          `number ${token} is not written canonically (as ${String(Number(token))})`,
          { details: { token } },
        );
      }
      i = j - 1;
    }
  }
}
