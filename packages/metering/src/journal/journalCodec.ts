import { MaaskitError } from "../errors.js";
import type { JsonValue } from "./canonicalJson.js";

/**
 * What the journal needs to know about the records it stores — and nothing more, so the
 * journal works with any hash-chained record type. `encode` must be deterministic: equal
 * records give equal JSON (the journal compares canonical bytes to detect a re-issued seq).
 *
 * @example
 * ```ts
 * const codec: JournalCodec<MyRecord> = {
 *   encode: (r) => r, decode: (j) => j as MyRecord,
 *   seq: (r) => r.seq, prevHash: (r) => r.prevHash, hash: (r) => r.hash,
 * };
 * ```
 */
export interface JournalCodec<R> {
  /** JSON form of a record (plain objects, strings, safe numbers; no bigint, no Date). */
  encode(record: R): JsonValue;
  /** Inverse of `encode`. */
  decode(json: JsonValue): R;
  /** The record's sequence number (gapless per journal). */
  seq(record: R): number | bigint;
  /** Hash of the previous record (the chain link). */
  prevHash(record: R): string;
  /** The record's own chain hash (what the next record's `prevHash` must be). */
  hash(record: R): string;
  /**
   * Cumulative register values (decimal strings) per channel at the record's end, so a
   * restarted gateway can resume counting from them.
   */
  registers?(record: R): Readonly<Record<string, string>> | undefined;
}

/**
 * The simplest chained entry: it carries its own `hash`. Useful for tests and for callers
 * that compute hashes themselves.
 */
export interface ChainEntry {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly registers?: Readonly<Record<string, string>>;
  readonly [key: string]: JsonValue | undefined;
}

/**
 * Codec for {@link ChainEntry}: stores the entry as-is and trusts its `hash` field.
 *
 * @example
 * ```ts
 * const journal = await openJournal({ dir, codec: chainEntryCodec });
 * ```
 */
export const chainEntryCodec: JournalCodec<ChainEntry> = {
  encode: (entry) => entry as unknown as JsonValue,
  decode: (json) => {
    const e = json as unknown as ChainEntry;
    if (
      e === null ||
      typeof e !== "object" ||
      typeof e.seq !== "number" ||
      typeof e.prevHash !== "string" ||
      typeof e.hash !== "string"
    ) {
      throw new MaaskitError("metering.journal.corrupt", "Journal entry is not a ChainEntry", {
        details: { entry: json },
      });
    }
    return e;
  },
  seq: (entry) => entry.seq,
  prevHash: (entry) => entry.prevHash,
  hash: (entry) => entry.hash,
  registers: (entry) => entry.registers,
};
