import { MaaskitError } from "../errors.js";
import { decimalToString, toDecimal } from "../quantity.js";
import type {
  EntitlementGrant,
  EntitlementKind,
  EntitlementRevocation,
  EntitlementTerms,
} from "./grant.js";

/** The JSON form of a grant: dates as ISO strings, the budget as a canonical decimal string. */
export interface EntitlementGrantJson {
  kind: "entitlementGrant";
  version: 1;
  agreementId: string;
  chainId: number;
  verifyingContract: string;
  issuer: string;
  subject: string;
  machineId: string;
  featureId: string;
  terms: { kind: EntitlementKind; unit: string; budget?: string; periodMs?: number };
  notBefore: string;
  notAfter: string;
  offlineGraceMs: number;
  generation: number;
  prevGrant: string;
  signature: string;
}

/** The JSON form of a revocation. */
export interface EntitlementRevocationJson {
  kind: "entitlementRevocation";
  version: 1;
  agreementId: string;
  chainId: number;
  verifyingContract: string;
  issuer: string;
  subject: string;
  machineId: string;
  featureId: string;
  grant: string;
  generation: number;
  revokedAt: string;
  signature: string;
}

/** Serialises a grant (keys in a fixed order: identical grants give identical bytes). */
export function entitlementGrantToJson(g: EntitlementGrant): EntitlementGrantJson {
  const terms: EntitlementGrantJson["terms"] = { kind: g.terms.kind, unit: g.terms.unit };
  if (g.terms.budget !== undefined) terms.budget = decimalToString(g.terms.budget);
  if (g.terms.periodMs !== undefined) terms.periodMs = g.terms.periodMs;
  return {
    kind: "entitlementGrant",
    version: g.version,
    agreementId: g.agreementId,
    chainId: g.chainId,
    verifyingContract: g.verifyingContract,
    issuer: g.issuer,
    subject: g.subject,
    machineId: g.machineId,
    featureId: g.featureId,
    terms,
    notBefore: g.notBefore.toISOString(),
    notAfter: g.notAfter.toISOString(),
    offlineGraceMs: g.offlineGraceMs,
    generation: g.generation,
    prevGrant: g.prevGrant,
    signature: g.signature,
  };
}

/** Serialises a revocation. */
export function entitlementRevocationToJson(r: EntitlementRevocation): EntitlementRevocationJson {
  return {
    kind: "entitlementRevocation",
    version: r.version,
    agreementId: r.agreementId,
    chainId: r.chainId,
    verifyingContract: r.verifyingContract,
    issuer: r.issuer,
    subject: r.subject,
    machineId: r.machineId,
    featureId: r.featureId,
    grant: r.grant,
    generation: r.generation,
    revokedAt: r.revokedAt.toISOString(),
    signature: r.signature,
  };
}

const GRANT_KEYS = new Set(Object.keys(entitlementGrantShape()));
const REVOCATION_KEYS = new Set([
  "kind",
  "version",
  "agreementId",
  "chainId",
  "verifyingContract",
  "issuer",
  "subject",
  "machineId",
  "featureId",
  "grant",
  "generation",
  "revokedAt",
  "signature",
]);

function entitlementGrantShape(): Record<keyof EntitlementGrantJson, true> {
  return {
    kind: true,
    version: true,
    agreementId: true,
    chainId: true,
    verifyingContract: true,
    issuer: true,
    subject: true,
    machineId: true,
    featureId: true,
    terms: true,
    notBefore: true,
    notAfter: true,
    offlineGraceMs: true,
    generation: true,
    prevGrant: true,
    signature: true,
  };
}

function malformed(field: string, problem: string): MaaskitError {
  return new MaaskitError(
    "metering.entitlement.malformed",
    `Entitlement JSON is malformed: ${field} ${problem}`,
    { details: { field, problem } },
  );
}

function object(v: unknown, field: string, keys: Set<string>): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw malformed(field, "must be an object");
  }
  for (const k of Object.keys(v)) if (!keys.has(k)) throw malformed(`${field}.${k}`, "is unknown");
  return v as Record<string, unknown>;
}

function date(v: unknown, field: string): Date {
  const d = typeof v === "string" ? new Date(v) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime()) || d.toISOString() !== v) {
    throw malformed(field, "must be an ISO 8601 UTC timestamp with milliseconds");
  }
  return d;
}

/**
 * Parses a grant's JSON (strict: unknown keys, non-canonical dates and budgets rejected
 * with `metering.entitlement.malformed`). The values are checked again when encoded.
 */
export function entitlementGrantFromJson(json: unknown): EntitlementGrant {
  const o = object(json, "grant", GRANT_KEYS);
  if (o.kind !== "entitlementGrant") throw malformed("kind", "must be entitlementGrant");
  const t = object(o.terms, "terms", new Set(["kind", "unit", "budget", "periodMs"]));
  const terms: { -readonly [K in keyof EntitlementTerms]: EntitlementTerms[K] } = {
    kind: t.kind as EntitlementKind,
    unit: t.unit as string,
  };
  if (t.budget !== undefined) {
    const budget =
      typeof t.budget === "string" && /^\d+(\.\d+)?$/.test(t.budget)
        ? toDecimal(t.budget)
        : undefined;
    if (budget === undefined || decimalToString(budget) !== t.budget) {
      throw malformed("terms.budget", "must be a canonical decimal string");
    }
    terms.budget = budget;
  }
  if (t.periodMs !== undefined) terms.periodMs = t.periodMs as number;
  return {
    version: o.version as 1,
    agreementId: o.agreementId as string,
    chainId: o.chainId as number,
    verifyingContract: o.verifyingContract as string,
    issuer: o.issuer as string,
    subject: o.subject as string,
    machineId: o.machineId as string,
    featureId: o.featureId as string,
    terms,
    notBefore: date(o.notBefore, "notBefore"),
    notAfter: date(o.notAfter, "notAfter"),
    offlineGraceMs: o.offlineGraceMs as number,
    generation: o.generation as number,
    prevGrant: o.prevGrant as string,
    signature: o.signature as string,
  };
}

/** Parses a revocation's JSON (strict, like {@link entitlementGrantFromJson}). */
export function entitlementRevocationFromJson(json: unknown): EntitlementRevocation {
  const o = object(json, "revocation", REVOCATION_KEYS);
  if (o.kind !== "entitlementRevocation") throw malformed("kind", "must be entitlementRevocation");
  return {
    version: o.version as 1,
    agreementId: o.agreementId as string,
    chainId: o.chainId as number,
    verifyingContract: o.verifyingContract as string,
    issuer: o.issuer as string,
    subject: o.subject as string,
    machineId: o.machineId as string,
    featureId: o.featureId as string,
    grant: o.grant as string,
    generation: o.generation as number,
    revokedAt: date(o.revokedAt, "revokedAt"),
    signature: o.signature as string,
  };
}
