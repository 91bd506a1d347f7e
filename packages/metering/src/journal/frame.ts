import { crc32 } from "node:zlib";

/**
 * Entry framing on disk (all integers big-endian):
 *
 * | bytes | field |
 * |---|---|
 * | 4 | magic `MKJ1` — lets recovery tell "torn tail" from "damage followed by good entries" |
 * | 4 | payload length n |
 * | n | payload: canonical JSON (UTF-8) |
 * | 4 | CRC-32 (IEEE) of the length field and the payload |
 * @internal
 */
export const FRAME_MAGIC = Buffer.from("MKJ1", "latin1");
/** Refuse absurd lengths (a corrupt length field must not look like a huge valid entry). */
const MAX_PAYLOAD = 64 * 1024 * 1024;

/** @internal */
export type FrameResult =
  | { ok: true; payload: Buffer; end: number }
  | { ok: false; reason: "shortHeader" | "badMagic" | "badLength" | "truncated" | "badChecksum" };

/** Decodes the frame that starts at `offset` of `buf`. @internal */
export function decodeFrame(buf: Buffer, offset: number): FrameResult {
  if (buf.length - offset < 8) return { ok: false, reason: "shortHeader" };
  if (buf.compare(FRAME_MAGIC, 0, 4, offset, offset + 4) !== 0) {
    return { ok: false, reason: "badMagic" };
  }
  const n = buf.readUInt32BE(offset + 4);
  if (n > MAX_PAYLOAD) return { ok: false, reason: "badLength" };
  const end = offset + 8 + n + 4;
  if (end > buf.length) return { ok: false, reason: "truncated" };
  const crc = buf.readUInt32BE(offset + 8 + n);
  if (crc32(buf.subarray(offset + 4, offset + 8 + n)) !== crc) {
    return { ok: false, reason: "badChecksum" };
  }
  return { ok: true, payload: buf.subarray(offset + 8, offset + 8 + n), end };
}

/**
 * Offset of the first complete, checksum-valid frame that starts after `from`, or -1.
 * A torn tail never contains one, so finding one means the damage is in the middle.
 * @internal
 */
export function findValidFrameAfter(buf: Buffer, from: number): number {
  let at = buf.indexOf(FRAME_MAGIC, from);
  while (at !== -1) {
    if (decodeFrame(buf, at).ok) return at;
    at = buf.indexOf(FRAME_MAGIC, at + 1);
  }
  return -1;
}
