import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from "node:fs";
import { crc32 } from "node:zlib";
import { ledgerError } from "../../ledgerErrors.js";

/** Bytes before each payload: u32 LE payload length, u32 LE CRC-32 of the payload. */
const HEADER = 8;
/** Refuse absurd frame lengths so garbage in a torn tail is never read as a huge frame. */
const MAX_FRAME = 256 * 1024 * 1024;

/** What `openAppendLog` found on disk. */
export interface AppendLogOpenResult {
  readonly log: AppendLog;
  /** The payloads of every complete, checksummed entry, in append order. */
  readonly entries: readonly Buffer[];
  /** Bytes cut off the end because the last write was torn (0 when the file was clean). */
  readonly truncatedBytes: number;
}

/**
 * A single-writer, append-only file of framed entries (`[len][crc32][payload]`). Appends
 * are written and fsynced before `append` returns; a write torn by a crash leaves an
 * incomplete or mis-checksummed last frame, which the next open cuts off.
 */
export interface AppendLog {
  /** Writes the payloads as consecutive frames with one write and one fsync. */
  append(payloads: readonly Buffer[]): void;
  close(): void;
  readonly path: string;
}

/**
 * Opens (or creates) an append log, returning every intact entry. A damaged frame at the
 * tail (the only place a torn write can be) is truncated away, durably; a damaged frame
 * followed by further data is corruption and throws `settlement.ledger.corrupt`.
 *
 * @example
 * ```ts
 * const { log, entries } = openAppendLog("/var/lib/maaskit/ledger.log")
 * log.append([Buffer.from("{}")])
 * ```
 */
export function openAppendLog(path: string): AppendLogOpenResult {
  const fd = openSync(path, "a+");
  let closed = false;
  try {
    const size = statSync(path).size;
    const bytes = size === 0 ? Buffer.alloc(0) : readFileSync(path);
    const entries: Buffer[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      const frame = readFrame(bytes, offset);
      if (frame.kind === "ok") {
        entries.push(frame.payload);
        offset = frame.next;
        continue;
      }
      // A torn append is the last thing written: its frame runs to (or past) the end of the
      // file, or only zero fill (blocks allocated but never written) follows it. A damaged
      // frame followed by real data is damage in the middle.
      const rest = bytes.subarray(offset);
      const tornTail =
        frame.kind === "truncated" ||
        isZero(rest) ||
        (frame.next > offset && isZero(bytes.subarray(frame.next)));
      if (!tornTail) {
        throw ledgerError("settlement.ledger.corrupt", "The ledger log is damaged before its end", {
          path,
          offset,
          size: bytes.length,
        });
      }
      break;
    }
    const truncatedBytes = bytes.length - offset;
    if (truncatedBytes > 0) {
      // Cut the torn tail durably before anything new is appended after it.
      const wfd = openSync(path, "r+");
      try {
        ftruncateSync(wfd, offset);
        fsyncSync(wfd);
      } finally {
        closeSync(wfd);
      }
    }
    const log: AppendLog = {
      path,
      append(payloads) {
        if (closed)
          throw ledgerError("settlement.ledger.closed", "The ledger log is closed", { path });
        if (payloads.length === 0) return;
        const frames = Buffer.concat(payloads.flatMap((p) => [header(p), p]));
        let written = 0;
        while (written < frames.length) {
          written += writeSync(fd, frames, written, frames.length - written);
        }
        fsyncSync(fd);
      },
      close() {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
    return { log, entries, truncatedBytes };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

function header(payload: Buffer): Buffer {
  const h = Buffer.alloc(HEADER);
  h.writeUInt32LE(payload.length, 0);
  h.writeUInt32LE(crc32(payload), 4);
  return h;
}

type Frame =
  | { kind: "ok"; payload: Buffer; next: number }
  | { kind: "truncated" }
  | { kind: "bad"; next: number };

function readFrame(bytes: Buffer, offset: number): Frame {
  if (offset + HEADER > bytes.length) return { kind: "truncated" };
  const len = bytes.readUInt32LE(offset);
  const sum = bytes.readUInt32LE(offset + 4);
  // An implausible length is only a torn tail if zero fill follows (checked by the caller).
  if (len === 0 || len > MAX_FRAME) return { kind: "bad", next: offset };
  const next = offset + HEADER + len;
  if (next > bytes.length) return { kind: "truncated" };
  const payload = bytes.subarray(offset + HEADER, next);
  if (crc32(payload) !== sum) return { kind: "bad", next };
  return { kind: "ok", payload: Buffer.from(payload), next };
}

function isZero(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}
