import type { Decimal } from "decimal.js";
import { TypedDataEncoder, type TypedDataField } from "ethers";
import { MaaskitError } from "../errors.js";
import { EncodingProblems } from "../records/encodingProblems.js";
import { GENESIS_HASH, type MeterRecordBinding } from "../records/meterRecord.js";
import {
  checkAddress,
  hashUtf8,
  meterRecordDomain,
  UNIT,
  unitToBytes8,
} from "../records/meterRecordTypedData.js";

/** Version of the grant and revocation formats (docs/entitlements.md). */
export const ENTITLEMENT_VERSION = 1;

/**
 * How a feature is paid: once per activation, once per period it is enabled in, or per
 * unit of use (e.g. hours in boost mode).
 */
export type EntitlementKind = "perActivation" | "perPeriod" | "perUnit";

/** Wire codes of {@link EntitlementKind} (`0` is never valid). */
export const ENTITLEMENT_KIND_CODES: Readonly<Record<EntitlementKind, number>> = {
  perActivation: 1,
  perPeriod: 2,
  perUnit: 3,
};

/** What a grant allows and how its use is counted. */
export interface EntitlementTerms {
  readonly kind: EntitlementKind;
  /**
   * UNECE code of one unit of use, the unit of the feature's meter records: `C62` (one
   * activation) for `perActivation`, the period's unit (e.g. `MON`) for `perPeriod`, the
   * unit of use (e.g. `HUR`) for `perUnit`.
   */
  readonly unit: string;
  /** Prepaid budget in `unit` (absent: unlimited, billed afterwards). 9 decimals at most. */
  readonly budget?: Decimal;
  /**
   * Length of a budget window in ms, windows counted from `notBefore` (absent or 0: the
   * budget never resets). For `perPeriod` the period that is paid once.
   */
  readonly periodMs?: number;
}

/** An entitlement grant before the vendor signs it. */
export interface UnsignedEntitlementGrant extends MeterRecordBinding {
  readonly version: 1;
  /** The vendor's key (EIP-55 address) that signs the grant. */
  readonly issuer: string;
  /** The machine's signer (EIP-55 address): the key that signs its meter records. */
  readonly subject: string;
  readonly machineId: string;
  readonly featureId: string;
  readonly terms: EntitlementTerms;
  /** Valid from (inclusive). */
  readonly notBefore: Date;
  /** Valid until (exclusive). */
  readonly notAfter: Date;
  /** How long the machine may use the feature without having been online (ms). */
  readonly offlineGraceMs: number;
  /** 0 for the first grant of a feature, +1 for each that replaces it. */
  readonly generation: number;
  /** EIP-712 digest of the grant of `generation − 1`; 32 zero bytes for generation 0. */
  readonly prevGrant: string;
}

/** A grant signed by its issuer. */
export interface EntitlementGrant extends UnsignedEntitlementGrant {
  /** 65-byte `r ‖ s ‖ v` signature over the EIP-712 digest, lowercase 0x hex, low s. */
  readonly signature: string;
}

/** A revocation before the vendor signs it: it revokes one grant (by digest) from `revokedAt`. */
export interface UnsignedEntitlementRevocation extends MeterRecordBinding {
  readonly version: 1;
  readonly issuer: string;
  readonly subject: string;
  readonly machineId: string;
  readonly featureId: string;
  /** Digest of the revoked grant. */
  readonly grant: string;
  /** Generation of the revoked grant. */
  readonly generation: number;
  /** From when the grant is revoked. */
  readonly revokedAt: Date;
}

/** A revocation signed by the grant's issuer. */
export interface EntitlementRevocation extends UnsignedEntitlementRevocation {
  readonly signature: string;
}

/** The EIP-712 `EntitlementGrant` type (field order is normative). */
export const ENTITLEMENT_GRANT_TYPE_STRING =
  "EntitlementGrant(uint16 version,address issuer,address subject,bytes32 machine,bytes32 feature,uint8 kind,bytes8 unit,bool budgeted,uint128 budget,uint64 period,uint64 notBefore,uint64 notAfter,uint64 offlineGrace,uint64 generation,bytes32 prevGrant)";

/** The EIP-712 `EntitlementRevocation` type (field order is normative). */
export const ENTITLEMENT_REVOCATION_TYPE_STRING =
  "EntitlementRevocation(uint16 version,address issuer,address subject,bytes32 machine,bytes32 feature,bytes32 grant,uint64 generation,uint64 revokedAt)";

function fieldsOf(typeString: string): TypedDataField[] {
  const inner = typeString.slice(typeString.indexOf("(") + 1, -1);
  return inner.split(",").map((f) => {
    const [type, name] = f.split(" ") as [string, string];
    return { name, type };
  });
}

/** EIP-712 types of a grant (without `EIP712Domain`). */
export const ENTITLEMENT_GRANT_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  EntitlementGrant: fieldsOf(ENTITLEMENT_GRANT_TYPE_STRING),
};

/** EIP-712 types of a revocation (without `EIP712Domain`). */
export const ENTITLEMENT_REVOCATION_TYPES: Readonly<Record<string, readonly TypedDataField[]>> = {
  EntitlementRevocation: fieldsOf(ENTITLEMENT_REVOCATION_TYPE_STRING),
};

/** The message of a grant: what is signed, every integer a bigint. */
export interface EntitlementGrantMessage {
  version: number;
  issuer: string;
  subject: string;
  machine: string;
  feature: string;
  kind: number;
  unit: string;
  budgeted: boolean;
  budget: bigint;
  period: bigint;
  notBefore: bigint;
  notAfter: bigint;
  offlineGrace: bigint;
  generation: bigint;
  prevGrant: string;
}

/** The message of a revocation. */
export interface EntitlementRevocationMessage {
  version: number;
  issuer: string;
  subject: string;
  machine: string;
  feature: string;
  grant: string;
  generation: bigint;
  revokedAt: bigint;
}

/** Codes of the errors grant encoding throws. */
export type EntitlementEncodingErrorCode =
  | "metering.entitlement.malformed"
  | "metering.entitlement.notRepresentable";

function throwProblems(p: EncodingProblems, what: string): void {
  const first = p.list[0];
  if (first === undefined) return;
  const code: EntitlementEncodingErrorCode =
    first.code === "metering.record.notRepresentable"
      ? "metering.entitlement.notRepresentable"
      : "metering.entitlement.malformed";
  throw new MaaskitError(
    code,
    `${what} cannot be encoded: ${first.field} ${first.problem}${p.list.length > 1 ? ` (and ${p.list.length - 1} more)` : ""}`,
    { details: { problems: p.list.map(({ field, problem }) => ({ field, problem })) } },
  );
}

function checkCommon(
  p: EncodingProblems,
  g: UnsignedEntitlementGrant | UnsignedEntitlementRevocation,
): { machine: string; feature: string } {
  if (g.version !== ENTITLEMENT_VERSION) p.add("version", "must be 1");
  p.text(g.agreementId, "agreementId");
  p.uint(g.chainId, 64, "chainId");
  checkAddress(p, g.verifyingContract, "verifyingContract");
  checkAddress(p, g.issuer, "issuer");
  checkAddress(p, g.subject, "subject");
  return {
    machine: hashUtf8(p.text(g.machineId, "machineId")),
    feature: hashUtf8(p.text(g.featureId, "featureId")),
  };
}

/**
 * Validates a grant and maps it to its EIP-712 message. Throws
 * `metering.entitlement.malformed` / `.notRepresentable` naming every problem.
 */
export function entitlementGrantMessage(g: UnsignedEntitlementGrant): EntitlementGrantMessage {
  const p = new EncodingProblems();
  if (g === null || typeof g !== "object") {
    p.add("grant", "must be an object");
    throwProblems(p, "Grant");
  }
  const { machine, feature } = checkCommon(p, g);
  const t = g.terms ?? ({} as EntitlementTerms);
  const kind = ENTITLEMENT_KIND_CODES[t.kind] ?? 0;
  if (kind === 0) p.add("terms.kind", "must be perActivation, perPeriod or perUnit");
  let unit = `0x${"00".repeat(8)}`;
  if (typeof t.unit !== "string" || !UNIT.test(t.unit)) {
    p.add("terms.unit", "must be a UNECE code of 1-8 characters [A-Z0-9]");
  } else {
    unit = unitToBytes8(t.unit);
    if (t.kind === "perActivation" && t.unit !== "C62") {
      p.add("terms.unit", "must be C62 (one activation) for perActivation");
    }
  }
  const budget = t.budget === undefined ? 0n : p.fixed(t.budget, "terms.budget");
  const period = t.periodMs === undefined ? 0 : p.uint(t.periodMs, 64, "terms.periodMs");
  if (t.kind === "perPeriod" && period === 0) p.add("terms.periodMs", "is required for perPeriod");
  const notBefore = p.time(g.notBefore, "notBefore");
  const notAfter = p.time(g.notAfter, "notAfter");
  if (notAfter <= notBefore) p.add("notAfter", "must be after notBefore");
  const offlineGrace = p.uint(g.offlineGraceMs, 64, "offlineGraceMs");
  const generation = p.uint(g.generation, 64, "generation");
  const prevGrant = p.hash32(g.prevGrant, "prevGrant");
  if (generation === 0 && prevGrant !== GENESIS_HASH) {
    p.add("prevGrant", "must be 32 zero bytes for generation 0");
  }
  if (generation > 0 && prevGrant === GENESIS_HASH) {
    p.add("prevGrant", "must be the previous grant's digest for generation > 0");
  }
  throwProblems(p, "Grant");
  return {
    version: ENTITLEMENT_VERSION,
    issuer: g.issuer,
    subject: g.subject,
    machine,
    feature,
    kind,
    unit,
    budgeted: t.budget !== undefined,
    budget,
    period: BigInt(period),
    notBefore,
    notAfter,
    offlineGrace: BigInt(offlineGrace),
    generation: BigInt(generation),
    prevGrant,
  };
}

/** Validates a revocation and maps it to its EIP-712 message. */
export function entitlementRevocationMessage(
  r: UnsignedEntitlementRevocation,
): EntitlementRevocationMessage {
  const p = new EncodingProblems();
  if (r === null || typeof r !== "object") {
    p.add("revocation", "must be an object");
    throwProblems(p, "Revocation");
  }
  const { machine, feature } = checkCommon(p, r);
  const grant = p.hash32(r.grant, "grant");
  const generation = p.uint(r.generation, 64, "generation");
  const revokedAt = p.time(r.revokedAt, "revokedAt");
  throwProblems(p, "Revocation");
  return {
    version: ENTITLEMENT_VERSION,
    issuer: r.issuer,
    subject: r.subject,
    machine,
    feature,
    grant,
    generation: BigInt(generation),
    revokedAt,
  };
}

/** The EIP-712 digest of a grant (what `prevGrant` of the next generation names). */
export function entitlementGrantDigest(g: UnsignedEntitlementGrant): string {
  return TypedDataEncoder.hash(
    meterRecordDomain(g),
    ENTITLEMENT_GRANT_TYPES as Record<string, TypedDataField[]>,
    entitlementGrantMessage(g) as unknown as Record<string, unknown>,
  );
}

/** The EIP-712 digest of a revocation. */
export function entitlementRevocationDigest(r: UnsignedEntitlementRevocation): string {
  return TypedDataEncoder.hash(
    meterRecordDomain(r),
    ENTITLEMENT_REVOCATION_TYPES as Record<string, TypedDataField[]>,
    entitlementRevocationMessage(r) as unknown as Record<string, unknown>,
  );
}
