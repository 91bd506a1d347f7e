import * as fs from "node:fs";
import * as path from "node:path";
import type { JsonValue } from "./canonicalJson.js";
import { journalError } from "./errors.js";
import { type ChainEntry, chainEntryCodec, type JournalCodec } from "./journalCodec.js";

const ARCHIVE_NAME = /^records-(\d{12})-(\d{12})\.jsonl$/;

/** @internal */
export function archiveFileName(from: number, to: number): string {
  return `records-${String(from).padStart(12, "0")}-${String(to).padStart(12, "0")}.jsonl`;
}

/** Archive files of `dir`, ordered by their first seq. @internal */
export function listArchiveFiles(dir: string): Array<{ name: string; from: number; to: number }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((name) => {
      const m = ARCHIVE_NAME.exec(name);
      return m ? { name, from: Number(m[1]), to: Number(m[2]) } : undefined;
    })
    .filter((f): f is { name: string; from: number; to: number } => f !== undefined)
    .sort((a, b) => a.from - b.from);
}

export interface ReadArchiveParameters<R = ChainEntry> {
  /** The `archiveDir` given to `Journal.compact`. */
  archiveDir: string;
  codec?: JournalCodec<R>;
}

/**
 * Reads the records a journal's compaction archived (JSON Lines files
 * `records-<from>-<to>.jsonl`, one record per line) in seq order, checking as it goes that
 * seqs are gapless and each record's `prevHash` is the previous record's hash; a break is
 * `metering.journal.corrupt`. Concatenated with `Journal.read()`, it gives the whole chain.
 *
 * @example
 * ```ts
 * for await (const record of readArchive({ archiveDir, codec })) verify(record);
 * ```
 */
export async function* readArchive<R = ChainEntry>(
  params: ReadArchiveParameters<R>,
): AsyncIterable<R> {
  const codec = (params.codec ?? chainEntryCodec) as JournalCodec<R>;
  let prev: { seq: number; hash: string } | undefined;
  for (const f of listArchiveFiles(params.archiveDir)) {
    const file = path.join(params.archiveDir, f.name);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    for (const [i, line] of lines.entries()) {
      const where = { file, line: i + 1 };
      let record: R;
      try {
        record = codec.decode(JSON.parse(line) as JsonValue);
      } catch (err) {
        throw journalError("metering.journal.corrupt", `Archive line does not decode`, where, err);
      }
      const seq = Number(codec.seq(record));
      const expected = prev === undefined ? f.from + i : prev.seq + 1;
      if (seq !== expected || seq !== f.from + i) {
        throw journalError(
          "metering.journal.corrupt",
          `Archive seq ${seq} where ${expected} was expected`,
          { ...where, seq, expected },
        );
      }
      if (prev !== undefined && codec.prevHash(record) !== prev.hash) {
        throw journalError(
          "metering.journal.corrupt",
          `Archive record ${seq} does not chain to record ${prev.seq}`,
          { ...where, seq },
        );
      }
      prev = { seq, hash: codec.hash(record) };
      yield record;
    }
    if (prev !== undefined && prev.seq !== f.to) {
      throw journalError("metering.journal.corrupt", `Archive file ends before its last seq`, {
        file,
        lastSeq: prev.seq,
        expected: f.to,
      });
    }
  }
}
