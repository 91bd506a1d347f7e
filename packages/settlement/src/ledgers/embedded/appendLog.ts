import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { ledgerError } from "../../ledgerErrors.js";

/** Bytes before each payload: u32 LE payload length, u32 LE CRC-32 of the payload. */
const HEADER = 8;
/** Refuse absurd frame lengths so garbage is never read as a huge frame. */
const MAX_FRAME = 256 * 1024 * 1024;
/** Every payload the file-based ledger wrote starts like this (`{"v":1,"at":…`). */
const PAYLOAD_START = Buffer.from('{"v":', "latin1");

/** What `readLegacyLog` found. */
export interface LegacyLog {
  /** The payloads of every complete, checksummed entry, in append order. */
  readonly entries: readonly Buffer[];
  /** A torn last write: where it starts and its bytes (copy them aside before dropping them). */
  readonly tornTail?: { readonly offset: number; readonly bytes: Buffer };
}

/**
 * Reads the append log of the file-based embedded ledger (`ledger.log`, frames
 * `[len][crc32][payload]`) for migration, refusing to guess. Only a write cut short at the
 * very end is a torn tail: a last frame that runs past the end of the file, or zero fill
 * (blocks allocated, never written), with no intact frame anywhere after it. Anything else
 * — a bad length or checksum followed by intact frames, or a complete last frame whose
 * checksum fails (an acknowledged entry that changed) — is `settlement.ledger.corrupt`
 * naming the entry, and nothing is cut.
 *
 * @example const { entries, tornTail } = readLegacyLog("/var/lib/maaskit/ledger/ledger.log")
 * @internal
 */
export function readLegacyLog(path: string): LegacyLog {
  const bytes = readFileSync(path);
  const entries: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const frame = readFrame(bytes, offset);
    if (frame.kind === "ok") {
      entries.push(frame.payload);
      offset = frame.next;
      continue;
    }
    const corrupt = (reason: string, extra: Record<string, unknown> = {}) =>
      ledgerError(
        "settlement.ledger.corrupt",
        `The ledger log is damaged at entry ${entries.length}: ${reason}`,
        {
          path,
          entry: entries.length,
          offset,
          size: bytes.length,
          reason,
          ...extra,
        },
      );
    const intactAfter = findIntactFrame(bytes, offset + 1);
    if (intactAfter !== -1) {
      throw corrupt(`${frame.kind}, with intact entries after it`, { intactAt: intactAfter });
    }
    const rest = bytes.subarray(offset);
    if (frame.kind === "truncated" || isZero(rest)) {
      return { entries, tornTail: { offset, bytes: Buffer.from(rest) } };
    }
    if (frame.kind === "bad" && frame.next > offset && isZero(bytes.subarray(frame.next))) {
      // A complete frame whose checksum fails: its write returned, so it may have been
      // acknowledged. Only an all-zero payload (never written) is a torn write.
      if (isZero(bytes.subarray(offset + HEADER, frame.next))) {
        return { entries, tornTail: { offset, bytes: Buffer.from(rest) } };
      }
      throw corrupt("a complete entry fails its checksum");
    }
    throw corrupt("bad length or checksum");
  }
  return { entries };
}

type Frame =
  | { kind: "ok"; payload: Buffer; next: number }
  | { kind: "truncated" }
  | { kind: "bad"; next: number };

function readFrame(bytes: Buffer, offset: number): Frame {
  if (offset + HEADER > bytes.length) return { kind: "truncated" };
  const len = bytes.readUInt32LE(offset);
  const sum = bytes.readUInt32LE(offset + 4);
  if (len === 0 || len > MAX_FRAME) return { kind: "bad", next: offset };
  const next = offset + HEADER + len;
  if (next > bytes.length) return { kind: "truncated" };
  const payload = bytes.subarray(offset + HEADER, next);
  if (crc32(payload) !== sum) return { kind: "bad", next };
  return { kind: "ok", payload: Buffer.from(payload), next };
}

/** Offset of the first intact frame starting at or after `from`, or -1. */
function findIntactFrame(bytes: Buffer, from: number): number {
  let at = bytes.indexOf(PAYLOAD_START, from + HEADER);
  while (at !== -1) {
    const start = at - HEADER;
    if (start >= from && readFrame(bytes, start).kind === "ok") return start;
    at = bytes.indexOf(PAYLOAD_START, at + 1);
  }
  return -1;
}

function isZero(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
