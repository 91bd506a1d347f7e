// Compaction (acknowledged records moved to the JSON Lines archive) and the full re-check of
// the live journal: the two whole-journal passes of `openJournal`.
import * as fs from "node:fs";
import * as path from "node:path";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { journalError } from "./errors.js";
import { fsyncDir, writeFileAtomic } from "./fsUtil.js";
import { IntervalSet } from "./intervals.js";
import { fromStorage, type JournalCore, sqliteCode, toSeq } from "./journalCore.js";
import type { CompactResult } from "./journalTypes.js";
import { archiveFileName, listArchiveFiles } from "./readArchive.js";

/** Re-hashes every live entry and re-checks the records' own chain (`Journal.verify`). */
export function verifyJournal<R>(core: JournalCore<R>): { records: number } {
  let prev: { seq: number; hash: string } | undefined;
  let records = 0;
  try {
    for (const e of core.store.entries()) {
      if (e.kind !== "record") continue;
      const record = core.codec.decode((JSON.parse(e.body) as { record: JsonValue }).record);
      const seq = toSeq(core.codec.seq(record));
      const expected = prev === undefined ? core.archivedThrough() + 1 : prev.seq + 1;
      const prevHash = prev?.hash ?? core.archive?.head ?? core.genesis.hash;
      if (seq !== expected || core.codec.prevHash(record) !== prevHash) {
        throw journalError(
          "metering.journal.corrupt",
          `Entry ${e.index} (record ${seq}) does not continue the chain`,
          {
            dir: core.dir,
            entry: e.index,
            seq,
          },
        );
      }
      prev = { seq, hash: core.codec.hash(record) };
      records++;
    }
  } catch (err) {
    throw fromStorage(err, core.dir);
  }
  if ((prev?.hash ?? core.archive?.head ?? core.genesis.hash) !== core.head) {
    throw journalError("metering.journal.corrupt", "The chain ends before the saved head", {
      dir: core.dir,
    });
  }
  return { records };
}

/**
 * Archives the acknowledged prefix of the live journal into `archiveDir` and removes it from
 * the store (`Journal.compact`; the caller has drained pending writes).
 */
export function compactJournal<R>(core: JournalCore<R>, archiveDir: string): CompactResult {
  const firstLive = core.archivedThrough() + 1;
  const through = Math.min(core.acked.contiguousFrom(firstLive - 1), core.nextSeq - 1);
  if (through < firstLive) return { archived: 0, archivedThrough: firstLive - 1 };

  if (!fs.existsSync(archiveDir)) {
    fs.mkdirSync(archiveDir, { recursive: true });
    fsyncDir(path.dirname(archiveDir));
  }
  // Temp files of an archive write that was interrupted before its rename.
  for (const name of fs.readdirSync(archiveDir)) {
    if (/^\.records-\d{12}-\d{12}\.jsonl\.\d+\.tmp$/.test(name)) {
      fs.rmSync(path.join(archiveDir, name), { force: true });
    }
  }
  // A compaction interrupted after its archive file was renamed into place must not
  // archive those records twice.
  const alreadyArchived = Math.max(firstLive - 1, ...listArchiveFiles(archiveDir).map((f) => f.to));
  let file: string | undefined;
  const from = alreadyArchived + 1;
  if (from <= through) {
    const lines: string[] = [];
    for (let seq = from; seq <= through; seq++) {
      const entry = JSON.parse(core.readPayload(seq)) as { record: JsonValue };
      lines.push(canonicalJson(entry.record));
    }
    file = path.join(archiveDir, archiveFileName(from, through));
    writeFileAtomic(file, `${lines.join("\n")}\n`);
  }
  const throughEntry = (core.entryOf.get(through) as { idx: number } | undefined)?.idx;
  const newArchive = {
    through,
    head: core.codec.hash(core.readRecord(through)),
    dir: archiveDir,
  };
  const before = { acked: new IntervalSet(core.acked.toJSON()), archive: core.archive };
  try {
    core.store.transaction(() => {
      core.deleteRecords.run(through);
      if (throughEntry !== undefined) core.store.prune(throughEntry);
      core.acked.trimThrough(through);
      core.archive = newArchive;
      core.saveState();
    });
  } catch (err) {
    core.acked = before.acked;
    core.archive = before.archive;
    throw journalError(
      "metering.journal.writeFailed",
      `Compacting journal ${core.dir} failed; the journal is unchanged`,
      { dir: core.dir, errno: sqliteCode(err) },
      err,
    );
  }
  return {
    archived: through - firstLive + 1,
    ...(file === undefined ? {} : { file }),
    archivedThrough: through,
  };
}
