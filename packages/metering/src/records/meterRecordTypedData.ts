import type { TypedDataDomain, TypedDataField } from "ethers";
import { getAddress } from "ethers/address";
import { keccak256 } from "ethers/crypto";
import { toUtf8Bytes } from "ethers/utils";
import type { VolumeBasis } from "../units.js";
import { EncodingProblems } from "./encodingProblems.js";
import {
  CLOCK_STATUSES,
  type ClockStatus,
  GENESIS_HASH,
  METER_RECORD_VERSION,
  type MeterExtras,
  type MeterRecordBinding,
  type UnsignedMeterRecord,
} from "./meterRecord.js";

/** EIP-712 domain name of every maaskit record and statement. */
export const METER_RECORD_DOMAIN_NAME = "maaskit";

/** EIP-712 domain version. */
export const METER_RECORD_DOMAIN_VERSION = "1";

/** The `EIP712Domain` type maaskit uses: always all five fields. */
export const EIP712_DOMAIN_FIELDS: readonly TypedDataField[] = [
  { name: "name", type: "string" },
  { name: "version", type: "string" },
  { name: "chainId", type: "uint256" },
  { name: "verifyingContract", type: "address" },
  { name: "salt", type: "bytes32" },
];

/** EIP-712 types of a meter record (primary type `MeterRecord`), field order normative. */
export const METER_RECORD_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  MeterRecord: [
    { name: "version", type: "uint16" },
    { name: "machine", type: "bytes32" },
    { name: "channel", type: "bytes32" },
    { name: "seq", type: "uint64" },
    { name: "periodStart", type: "uint64" },
    { name: "periodEnd", type: "uint64" },
    { name: "prevHash", type: "bytes32" },
    { name: "unit", type: "bytes8" },
    { name: "basis", type: "uint8" },
    { name: "quantity", type: "uint128" },
    { name: "registerStart", type: "uint128" },
    { name: "registerEnd", type: "uint128" },
    { name: "flags", type: "uint16" },
    { name: "clock", type: "uint8" },
    { name: "quarantined", type: "uint32" },
    { name: "extrasHash", type: "bytes32" },
  ],
};

/** EIP-712 types of record extras (primary type `MeterExtras`), hashed into `extrasHash`. */
export const METER_EXTRAS_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  MeterExtras: [
    { name: "quantities", type: "MeterQuantity[]" },
    { name: "oee", type: "MeterOee[]" },
  ],
  MeterQuantity: [
    { name: "channel", type: "string" },
    { name: "unit", type: "bytes8" },
    { name: "basis", type: "uint8" },
    { name: "value", type: "uint128" },
    { name: "registerStart", type: "uint128" },
    { name: "registerEnd", type: "uint128" },
    { name: "flags", type: "uint16" },
  ],
  MeterOee: [
    { name: "plannedBusyTime", type: "uint64" },
    { name: "actualProductionTime", type: "uint64" },
    { name: "unit", type: "bytes8" },
    { name: "produced", type: "uint128" },
    { name: "good", type: "uint128" },
  ],
};

/** EIP-712 type string of `MeterRecord` (what `METER_RECORD_TYPEHASH` hashes). */
export const METER_RECORD_TYPE_STRING =
  "MeterRecord(uint16 version,bytes32 machine,bytes32 channel,uint64 seq,uint64 periodStart,uint64 periodEnd,bytes32 prevHash,bytes8 unit,uint8 basis,uint128 quantity,uint128 registerStart,uint128 registerEnd,uint16 flags,uint8 clock,uint32 quarantined,bytes32 extrasHash)";

/** EIP-712 type string of `MeterExtras` with its referenced types. */
export const METER_EXTRAS_TYPE_STRING =
  "MeterExtras(MeterQuantity[] quantities,MeterOee[] oee)MeterOee(uint64 plannedBusyTime,uint64 actualProductionTime,bytes8 unit,uint128 produced,uint128 good)MeterQuantity(string channel,bytes8 unit,uint8 basis,uint128 value,uint128 registerStart,uint128 registerEnd,uint16 flags)";

/** The signed message of a record: what the EIP-712 struct hash is computed from. */
export interface MeterRecordMessage {
  version: number;
  machine: string;
  channel: string;
  seq: bigint;
  periodStart: bigint;
  periodEnd: bigint;
  prevHash: string;
  unit: string;
  basis: number;
  quantity: bigint;
  registerStart: bigint;
  registerEnd: bigint;
  flags: number;
  clock: number;
  quarantined: number;
  extrasHash: string;
}

/** The message of record extras (`MeterExtras`). */
export interface MeterExtrasMessage {
  quantities: {
    channel: string;
    unit: string;
    basis: number;
    value: bigint;
    registerStart: bigint;
    registerEnd: bigint;
    flags: number;
  }[];
  oee: {
    plannedBusyTime: bigint;
    actualProductionTime: bigint;
    unit: string;
    produced: bigint;
    good: bigint;
  }[];
}

/** The JSON shape `eth_signTypedData_v4` takes: integers of the message as decimal strings. */
export interface TypedDataJson {
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  domain: {
    name: string;
    version: string;
    chainId: number;
    verifyingContract: string;
    salt: string;
  };
  message: Record<string, unknown>;
}

/** The EIP-712 domain of an agreement, all five fields present. */
export interface MeterRecordDomain extends TypedDataDomain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: string;
  salt: string;
}

/** Volume basis codes on the wire (`0` = none). */
export const VOLUME_BASIS_CODES: Readonly<Record<VolumeBasis, number>> = {
  "ISO1217-FAD": 1,
  "DIN1343-normal": 2,
  "ISO2533-standard": 3,
  actual: 4,
};

/** Bit of the `noRegister` flag (bit 5). */
export const NO_REGISTER_FLAG = 1 << 5;

export const MAX_UINT128 = (1n << 128n) - 1n;

export const HEX32 = /^0x[0-9a-f]{64}$/;

export const UNIT = /^[A-Z0-9]{1,8}$/;

/**
 * The EIP-712 domain of an agreement: name "maaskit", version "1", its chain id and
 * contract (0 / zero address off-chain), and `salt = keccak256(utf8(agreementId))`.
 *
 * @example meterRecordDomain({ agreementId: "agr-1", chainId: 0, verifyingContract: ZERO_ADDRESS })
 */
export function meterRecordDomain(binding: MeterRecordBinding): MeterRecordDomain {
  return {
    name: METER_RECORD_DOMAIN_NAME,
    version: METER_RECORD_DOMAIN_VERSION,
    chainId: binding.chainId,
    verifyingContract: getAddress(binding.verifyingContract),
    salt: hashUtf8(binding.agreementId),
  };
}

/** `keccak256(utf8(text))`, cached: machine ids, channels and agreement ids repeat. */
export function hashUtf8(text: string): string {
  let h = utf8HashCache.get(text);
  if (h === undefined) {
    h = keccak256(toUtf8Bytes(text));
    if (utf8HashCache.size >= 4096) utf8HashCache.clear();
    utf8HashCache.set(text, h);
  }
  return h;
}

const utf8HashCache = new Map<string, string>();

/** A UNECE code as `bytes8`: ASCII, left-aligned, zero-padded (`"MTQ"` → `0x4d54510000000000`). */
export function unitToBytes8(unit: string): string {
  let hex = "0x";
  for (let i = 0; i < 8; i++) {
    hex += i < unit.length ? unit.charCodeAt(i).toString(16).padStart(2, "0") : "00";
  }
  return hex;
}

/**
 * Validates a record and maps it to its EIP-712 message (fixed-point integers, hashes of
 * ids, codes). Throws `metering.record.notRepresentable` or `metering.record.malformed`
 * naming every problem. `extrasHash` is passed in because hashing needs the encoder.
 *
 * @example const message = meterRecordMessage(record, extrasHash);
 */
export function meterRecordMessage(
  record: UnsignedMeterRecord,
  extrasHashOf: (extras: MeterExtrasMessage) => string,
): MeterRecordMessage {
  const p = new EncodingProblems();
  if (record === null || typeof record !== "object") {
    p.add("record", "must be an object");
    p.throwIfAny();
  }
  if (record.version !== METER_RECORD_VERSION) p.add("version", "must be 1");
  p.text(record.agreementId, "agreementId");
  p.uint(record.chainId, 64, "chainId");
  checkAddress(p, record.verifyingContract, "verifyingContract");
  const machine = hashUtf8(p.text(record.machineId, "machineId"));
  const channel = p.text(record.channel, "channel");
  const seq = p.uint(record.seq, 64, "seq");
  const periodStart = p.time(record.periodStart, "periodStart");
  const periodEnd = p.time(record.periodEnd, "periodEnd");
  if (periodEnd <= periodStart && periodEnd > 0n) p.add("periodEnd", "must be after periodStart");
  const prevHash = p.hash32(record.prevHash, "prevHash");
  const { unit, basis } = p.unit(record.quantity, "quantity");
  const quantity = p.fixed(record.quantity?.value, "quantity.value");
  const register = p.register(record.register, "register");
  const flags = p.flags(record.flags, record.register, "flags");
  if (!CLOCK_STATUSES.includes(record.clock as ClockStatus))
    p.add("clock", "is not a clock status");
  const quarantined = p.uint(record.quarantined, 32, "quarantined");
  const extras =
    record.extras === undefined ? undefined : extrasMessage(p, record.extras, "extras", channel);
  p.throwIfAny();
  return {
    version: METER_RECORD_VERSION,
    machine,
    channel: hashUtf8(channel),
    seq: BigInt(seq),
    periodStart,
    periodEnd,
    prevHash,
    unit,
    basis,
    quantity,
    registerStart: register.start,
    registerEnd: register.end,
    flags,
    clock: CLOCK_STATUSES.indexOf(record.clock),
    quarantined,
    extrasHash: extras === undefined ? GENESIS_HASH : extrasHashOf(extras),
  };
}

/**
 * Validates extras and maps them to the `MeterExtras` message. @internal
 */
export function extrasMessage(
  p: EncodingProblems,
  extras: MeterExtras,
  field: string,
  billedChannel: string | undefined,
): MeterExtrasMessage | undefined {
  if (extras === null || typeof extras !== "object" || !Array.isArray(extras.quantities)) {
    p.add(field, "must have a quantities array");
    return undefined;
  }
  if (extras.quantities.length === 0 && extras.oee === undefined) {
    p.add(field, "must be absent when it has no quantities and no oee");
  }
  let previous: string | undefined;
  const quantities = extras.quantities.map((q, i) => {
    const f = `${field}.quantities[${i}]`;
    const channel = p.text(q?.channel, `${f}.channel`);
    if (channel === billedChannel) p.add(`${f}.channel`, "must not be the billed channel");
    if (previous !== undefined && !(previous < channel)) {
      p.add(`${f}.channel`, "must be sorted and unique");
    }
    previous = channel;
    const { unit, basis } = p.unit(q?.quantity, `${f}.quantity`);
    const register = p.register(q?.register, `${f}.register`);
    return {
      channel,
      unit,
      basis,
      value: p.fixed(q?.quantity?.value, `${f}.quantity.value`),
      registerStart: register.start,
      registerEnd: register.end,
      flags: p.flags(q?.flags, q?.register, `${f}.flags`),
    };
  });
  const oee: MeterExtrasMessage["oee"] = [];
  if (extras.oee !== undefined) {
    const o = extras.oee;
    const f = `${field}.oee`;
    const produced = p.unit(o.produced, `${f}.produced`);
    const good = p.unit(o.good, `${f}.good`);
    if (produced.unit !== good.unit || produced.basis !== 0 || good.basis !== 0) {
      p.add(`${f}.good`, "must have the unit of produced and no volume basis");
    }
    oee.push({
      plannedBusyTime: BigInt(p.uint(o.plannedBusyTimeMs, 64, `${f}.plannedBusyTimeMs`)),
      actualProductionTime: BigInt(
        p.uint(o.actualProductionTimeMs, 64, `${f}.actualProductionTimeMs`),
      ),
      unit: produced.unit,
      produced: p.fixed(o.produced?.value, `${f}.produced.value`),
      good: p.fixed(o.good?.value, `${f}.good.value`),
    });
  }
  return { quantities, oee };
}

/** Checks an address is valid and canonical (EIP-55). @internal */
export function checkAddress(p: EncodingProblems, v: unknown, field: string): void {
  if (!isChecksummedAddress(v)) p.add(field, "must be an EIP-55 checksummed address");
}

// The same few addresses (contract, signer keys) come with every record: remember the
// canonical ones instead of hashing each again for its checksum.
const canonicalAddresses = new Set<string>();

/** True when `v` is a valid address in its EIP-55 checksummed form. @internal */
export function isChecksummedAddress(v: unknown): v is string {
  if (typeof v !== "string") return false;
  if (canonicalAddresses.has(v)) return true;
  let canonical: string;
  try {
    canonical = getAddress(v);
  } catch {
    return false;
  }
  if (canonical !== v) return false;
  if (canonicalAddresses.size >= 1024) canonicalAddresses.clear();
  canonicalAddresses.add(v);
  return true;
}

/**
 * The record as `eth_signTypedData_v4` takes it: `types` including `EIP712Domain`,
 * integers of the message as decimal strings. Any EIP-712 implementation can hash and
 * verify a record from this alone.
 *
 * @example JSON.stringify(meterRecordTypedData(record, message))
 */
export function typedDataJson(
  binding: MeterRecordBinding,
  types: Readonly<Record<string, readonly TypedDataField[]>>,
  primaryType: string,
  message: object,
): TypedDataJson {
  const out: TypedDataJson["types"] = {
    EIP712Domain: EIP712_DOMAIN_FIELDS.map((f) => ({ name: f.name, type: f.type })),
  };
  for (const [name, fields] of Object.entries(types)) {
    out[name] = fields.map((f) => ({ name: f.name, type: f.type }));
  }
  return {
    types: out,
    primaryType,
    domain: meterRecordDomain(binding),
    message: stringifyIntegers(message) as Record<string, unknown>,
  };
}

/** Deep copy with bigints and numbers as decimal strings (the v4 JSON convention). */
export function stringifyIntegers(v: unknown): unknown {
  if (typeof v === "bigint" || typeof v === "number") return v.toString();
  if (Array.isArray(v)) return v.map(stringifyIntegers);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, stringifyIntegers(x)]));
  }
  return v;
}
