import { keccak_256 } from "@noble/hashes/sha3";
import {
  METER_EXTRAS_TYPE_STRING,
  METER_RECORD_TYPE_STRING,
  type MeterExtrasMessage,
  type MeterRecordMessage,
} from "./meterRecordTypedData.js";

// EIP-712 `encodeData` / `hashStruct` of the record and extras types, written straight into
// bytes. The types are fixed, so every word's position is known: no type parsing, no hex
// round trips between nested hashes. `encodeMeterRecord.test.ts` checks every byte against
// ethers' generic TypedDataEncoder. Inputs are messages built by `meterRecordMessage` and
// `extrasMessage`, which have already range-checked every value.

const utf8 = new TextEncoder();

function typeHash(typeString: string): Uint8Array {
  return keccak_256(utf8.encode(typeString));
}

const RECORD_TYPEHASH = typeHash(METER_RECORD_TYPE_STRING);
const EXTRAS_TYPEHASH = typeHash(METER_EXTRAS_TYPE_STRING);
const QUANTITY_TYPEHASH = typeHash(
  METER_EXTRAS_TYPE_STRING.slice(METER_EXTRAS_TYPE_STRING.indexOf("MeterQuantity(")),
);
const OEE_TYPEHASH = typeHash(
  METER_EXTRAS_TYPE_STRING.slice(
    METER_EXTRAS_TYPE_STRING.indexOf("MeterOee("),
    METER_EXTRAS_TYPE_STRING.indexOf("MeterQuantity("),
  ),
);
const EMPTY_ARRAY_HASH = keccak_256(new Uint8Array(0));

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lowercase `0x` hex of bytes. @internal */
export function bytesToHex(bytes: Uint8Array): string {
  let out = "0x";
  for (let i = 0; i < bytes.length; i++) out += HEX_BYTE[bytes[i]!];
  return out;
}

function nibble(c: number): number {
  // 0-9, a-f, A-F; anything else was rejected before it got here.
  return c <= 57 ? c - 48 : (c | 32) - 87;
}

/** Writes the bytes of `0x` hex (`byteLength` of them) at `offset`, left-aligned. @internal */
export function hexInto(hex: string, out: Uint8Array, offset: number, byteLength: number): void {
  for (let i = 0; i < byteLength; i++) {
    const at = 2 + 2 * i;
    out[offset + i] = (nibble(hex.charCodeAt(at)) << 4) | nibble(hex.charCodeAt(at + 1));
  }
}

/** `0x` hex (32 bytes) as bytes. @internal */
export function hexToBytes32(hex: string): Uint8Array {
  const out = new Uint8Array(32);
  hexInto(hex, out, 0, 32);
  return out;
}

/** An unsigned integer as a big-endian 32-byte word at `offset` (the word must be zero). */
function uintInto(v: bigint | number, out: Uint8Array, offset: number): void {
  if (typeof v === "number") {
    // Safe integers: at most 53 bits, written as two 32-bit halves.
    const view = new DataView(out.buffer, out.byteOffset + offset, 32);
    view.setUint32(28, v >>> 0);
    view.setUint32(24, Math.floor(v / 0x1_0000_0000));
    return;
  }
  let rest = v;
  for (let end = offset + 32; rest > 0n && end > offset; end -= 4) {
    const word = Number(BigInt.asUintN(32, rest));
    out[end - 1] = word & 0xff;
    out[end - 2] = (word >>> 8) & 0xff;
    out[end - 3] = (word >>> 16) & 0xff;
    out[end - 4] = word >>> 24;
    rest >>= 32n;
  }
}

/**
 * `encodeData(MeterRecord)`: the type hash and the 16 field words (544 bytes), whose
 * keccak256 is the struct hash. @internal
 */
export function encodeRecordMessage(m: MeterRecordMessage): Uint8Array {
  const out = new Uint8Array(32 * 17);
  out.set(RECORD_TYPEHASH, 0);
  uintInto(m.version, out, 32);
  hexInto(m.machine, out, 64, 32);
  hexInto(m.channel, out, 96, 32);
  uintInto(m.seq, out, 128);
  uintInto(m.periodStart, out, 160);
  uintInto(m.periodEnd, out, 192);
  hexInto(m.prevHash, out, 224, 32);
  hexInto(m.unit, out, 256, 8);
  uintInto(m.basis, out, 288);
  uintInto(m.quantity, out, 320);
  uintInto(m.registerStart, out, 352);
  uintInto(m.registerEnd, out, 384);
  uintInto(m.flags, out, 416);
  uintInto(m.clock, out, 448);
  uintInto(m.quarantined, out, 480);
  hexInto(m.extrasHash, out, 512, 32);
  return out;
}

/** `hashStruct(MeterExtras)` as bytes; `channelHash` maps a channel name to keccak256(utf8). @internal */
export function hashExtrasBytes(
  m: MeterExtrasMessage,
  channelHash: (channel: string) => string,
): Uint8Array {
  const quantityHashes = new Uint8Array(32 * m.quantities.length);
  const q = new Uint8Array(32 * 8);
  m.quantities.forEach((x, i) => {
    q.fill(0);
    q.set(QUANTITY_TYPEHASH, 0);
    hexInto(channelHash(x.channel), q, 32, 32);
    hexInto(x.unit, q, 64, 8);
    uintInto(x.basis, q, 96);
    uintInto(x.value, q, 128);
    uintInto(x.registerStart, q, 160);
    uintInto(x.registerEnd, q, 192);
    uintInto(x.flags, q, 224);
    quantityHashes.set(keccak_256(q), 32 * i);
  });
  const oeeHashes = new Uint8Array(32 * m.oee.length);
  const o = new Uint8Array(32 * 6);
  m.oee.forEach((x, i) => {
    o.fill(0);
    o.set(OEE_TYPEHASH, 0);
    uintInto(x.plannedBusyTime, o, 32);
    uintInto(x.actualProductionTime, o, 64);
    hexInto(x.unit, o, 96, 8);
    uintInto(x.produced, o, 128);
    uintInto(x.good, o, 160);
    oeeHashes.set(keccak_256(o), 32 * i);
  });
  const e = new Uint8Array(32 * 3);
  e.set(EXTRAS_TYPEHASH, 0);
  e.set(m.quantities.length === 0 ? EMPTY_ARRAY_HASH : keccak_256(quantityHashes), 32);
  e.set(m.oee.length === 0 ? EMPTY_ARRAY_HASH : keccak_256(oeeHashes), 64);
  return keccak_256(e);
}

/** `keccak256(0x1901 ‖ domainSeparator ‖ structHash)`: the EIP-712 digest. @internal */
export function typedDataDigest(domainSeparator: Uint8Array, structHash: Uint8Array): Uint8Array {
  const buf = new Uint8Array(66);
  buf[0] = 0x19;
  buf[1] = 0x01;
  buf.set(domainSeparator, 2);
  buf.set(structHash, 34);
  return keccak_256(buf);
}

/** keccak256 of bytes. @internal */
export function keccakBytes(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}
