import * as fs from "node:fs";
import { journalError } from "./errors.js";
import { decodeFrame, findValidFrameAfter } from "./frame.js";
import type { SavedState } from "./journalTypes.js";

/** The chain state the first entry of a file-based journal carries. @internal */
export type LegacyCheckpoint = { k: "checkpoint" } & SavedState;

/** What `readLegacyJournal` found. @internal */
export interface LegacyJournal {
  checkpoint: LegacyCheckpoint;
  /** Record and ack entries after the checkpoint, in order, as parsed JSON. */
  entries: Array<Record<string, unknown>>;
  /** A torn last write: where it starts and its bytes. */
  tornTail?: { offset: number; bytes: Buffer; reason: string };
}

/**
 * Reads a file-based journal (`journal.log`, frames `MKJ1 | n | payload | CRC-32`) for
 * migration. Damage followed by an intact frame is `metering.journal.corrupt` naming the
 * entry; only damage that runs to the end of the file is a torn tail (returned, not cut).
 * @internal
 */
export function readLegacyJournal(file: string): LegacyJournal {
  const buf = fs.readFileSync(file);
  const payloads: Buffer[] = [];
  let offset = 0;
  let tornTail: LegacyJournal["tornTail"];
  while (offset < buf.length) {
    const r = decodeFrame(buf, offset);
    if (r.ok) {
      payloads.push(r.payload);
      offset = r.end;
      continue;
    }
    const next = findValidFrameAfter(buf, offset + 1);
    if (next !== -1) {
      throw journalError(
        "metering.journal.corrupt",
        `Journal ${file} is damaged at entry ${payloads.length} (byte ${offset}, ${r.reason}) with intact entries after it; refusing to cut them off`,
        { file, entry: payloads.length, offset, reason: r.reason, nextValidOffset: next },
      );
    }
    tornTail = { offset, bytes: Buffer.from(buf.subarray(offset)), reason: r.reason };
    break;
  }
  const parsed = payloads.map((p, i) => {
    try {
      return JSON.parse(p.toString("utf8")) as Record<string, unknown>;
    } catch (err) {
      throw journalError(
        "metering.journal.corrupt",
        `Journal ${file}: entry ${i} is not JSON`,
        { file, entry: i },
        err,
      );
    }
  });
  const first = parsed[0];
  if (first === undefined || first.k !== "checkpoint") {
    throw journalError(
      "metering.journal.corrupt",
      `Journal ${file} does not start with a checkpoint`,
      {
        file,
        entry: 0,
      },
    );
  }
  return {
    checkpoint: first as unknown as LegacyCheckpoint,
    entries: parsed.slice(1),
    ...(tornTail === undefined ? {} : { tornTail }),
  };
}
