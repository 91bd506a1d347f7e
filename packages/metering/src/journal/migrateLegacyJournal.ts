// Migrating a directory written by the file-based journal (`journal.log`) into the SQLite
// journal at its first open: every entry re-checked, a torn tail quarantined, the old file kept.
import * as fs from "node:fs";
import * as path from "node:path";
import { canonicalJson, type JsonValue } from "./canonicalJson.js";
import { journalError } from "./errors.js";
import { renameAside, writeFileAtomic } from "./fsUtil.js";
import { checkGenesis, type JournalCore, LEGACY_FILE, toSeq } from "./journalCore.js";
import { readLegacyJournal } from "./readLegacyJournal.js";

/** Loads `file` (a file-based journal) into `core`'s empty store, then renames it aside. */
export function migrateLegacyJournal<R>(
  core: JournalCore<R>,
  file: string,
  genesisOption: { seq: number; hash: string } | undefined,
): void {
  const legacy = readLegacyJournal(file);
  const cp = legacy.checkpoint;
  checkGenesis(genesisOption, cp.genesis);
  if (legacy.tornTail !== undefined) {
    const quarantineFile = path.join(core.dir, `${LEGACY_FILE}.recovered`);
    writeFileAtomic(quarantineFile, legacy.tornTail.bytes);
    core.recovery.tornTail = {
      offset: legacy.tornTail.offset,
      length: legacy.tornTail.bytes.length,
      reason: legacy.tornTail.reason,
      quarantineFile,
    };
  }
  core.restoreState(cp);
  let records = 0;
  core.store.transaction(() => {
    legacy.entries.forEach((entry, i) => {
      const where = { file, entry: i + 1 };
      if (entry.k === "record") {
        let record: R;
        try {
          record = core.codec.decode(entry.record as JsonValue);
        } catch (err) {
          throw journalError("metering.journal.corrupt", "A record does not decode", where, err);
        }
        const seq = toSeq(core.codec.seq(record));
        if (seq !== core.nextSeq || core.codec.prevHash(record) !== core.head) {
          throw journalError(
            "metering.journal.corrupt",
            `Record ${seq} does not continue the chain`,
            {
              ...where,
              expectedSeq: core.nextSeq,
            },
          );
        }
        const payload = canonicalJson({ k: "record", record: core.codec.encode(record) });
        const { index } = core.store.append("record", payload);
        core.putRecord.run(seq, index);
        core.commitRecord(record, seq);
        records++;
      } else if (entry.k === "ack") {
        const from = entry.from as number;
        const to = entry.to as number;
        if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || to >= core.nextSeq) {
          throw journalError(
            "metering.journal.corrupt",
            "Acknowledgement of records not in the journal",
            where,
          );
        }
        core.store.append("ack", canonicalJson(entry as JsonValue));
        core.acked.add(from, to);
      } else {
        throw journalError(
          "metering.journal.corrupt",
          `Unexpected entry kind ${String(entry.k)}`,
          where,
        );
      }
    });
    core.saveState();
    core.store.setMeta("migratedFrom", JSON.stringify({ file: LEGACY_FILE, records }));
  });
  // Durable before the old file moves (commits are not fsynced by SQLite here).
  fs.fdatasyncSync(core.wal());
  core.recovery.migratedFrom = { file: renameAside(file), records };
}
