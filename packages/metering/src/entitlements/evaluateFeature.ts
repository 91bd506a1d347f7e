import type { Decimal } from "decimal.js";
import { getAddress } from "ethers/address";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type { ClockStatus, MeterRecordBinding } from "../records/meterRecord.js";
import { SignatureChecker } from "../records/signatureCheck.js";
import { sameBinding } from "../records/signMeterRecord.js";
import {
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantDigest,
  entitlementRevocationDigest,
} from "./grant.js";

/** Why a grant does not verify or a feature is denied: one code per rule (docs/entitlements.md §5). */
export type EntitlementDenialCode =
  | "metering.entitlement.noGrant"
  | "metering.entitlement.malformed"
  | "metering.entitlement.notRepresentable"
  | "metering.entitlement.wrongAgreement"
  | "metering.entitlement.wrongIssuer"
  | "metering.entitlement.badSignature"
  | "metering.entitlement.wrongMachine"
  | "metering.entitlement.wrongFeature"
  | "metering.entitlement.brokenChain"
  | "metering.entitlement.rolledBack"
  | "metering.entitlement.revoked"
  | "metering.entitlement.clockUnknown"
  | "metering.entitlement.clockBehind"
  | "metering.entitlement.notYetValid"
  | "metering.entitlement.expired"
  | "metering.entitlement.offlineBeyondGrace"
  | "metering.entitlement.budgetExhausted";

/** Whom a grant must come from and be for: the trust anchor of a check. */
export interface EntitlementContext {
  /** The agreement (domain) the grant must be bound to. */
  readonly binding: MeterRecordBinding;
  /** The vendor's key every grant and revocation must be signed by. */
  readonly issuer: string;
  /** The machine's id and its signer (the subject of its grants). */
  readonly machineId: string;
  readonly subject: string;
  readonly featureId: string;
}

/** A denial: the rule that failed and its facts. */
export interface EntitlementDenial {
  readonly allowed: false;
  readonly reason: EntitlementDenialCode;
  readonly details: Record<string, unknown>;
}

/** The outcome of {@link verifyEntitlementGrant}. */
export type GrantVerification =
  | { readonly ok: true; readonly digest: string }
  | (Omit<EntitlementDenial, "allowed"> & { readonly ok: false });

const checker = new SignatureChecker();

function deny(reason: EntitlementDenialCode, details: Record<string, unknown>): EntitlementDenial {
  return { allowed: false, reason, details };
}

/**
 * Checks one grant against its context: well formed, bound to the agreement, signed by the
 * issuer (any changed field breaks the signature), for this machine's signer and feature.
 *
 * @example verifyEntitlementGrant(grant, { binding, issuer, machineId, subject, featureId })
 */
export function verifyEntitlementGrant(
  grant: EntitlementGrant,
  context: EntitlementContext,
): GrantVerification {
  const checked = checkSigned(grant, context, entitlementGrantDigest);
  if (checked.ok) {
    if (grant.machineId !== context.machineId || grant.subject !== getAddress(context.subject)) {
      return {
        ok: false,
        reason: "metering.entitlement.wrongMachine",
        details: { machineId: grant.machineId, subject: grant.subject },
      };
    }
    if (grant.featureId !== context.featureId) {
      return {
        ok: false,
        reason: "metering.entitlement.wrongFeature",
        details: { featureId: grant.featureId },
      };
    }
  }
  return checked;
}

function checkSigned<T extends EntitlementGrant | EntitlementRevocation>(
  signed: T,
  context: EntitlementContext,
  digestOf: (x: T) => string,
): GrantVerification {
  let digest: string;
  try {
    digest = digestOf(signed);
  } catch (err) {
    if (isMaaskitError(err)) {
      return { ok: false, reason: err.code as EntitlementDenialCode, details: err.details };
    }
    throw err;
  }
  if (!sameBinding(signed, context.binding)) {
    return {
      ok: false,
      reason: "metering.entitlement.wrongAgreement",
      details: { agreementId: signed.agreementId, chainId: signed.chainId },
    };
  }
  if (signed.issuer !== getAddress(context.issuer)) {
    return {
      ok: false,
      reason: "metering.entitlement.wrongIssuer",
      details: { issuer: signed.issuer },
    };
  }
  const ok = checker.check(digest, signed.signature, signed.issuer);
  if (ok !== true) {
    return {
      ok: false,
      reason: "metering.entitlement.badSignature",
      details: { failure: ok, digest },
    };
  }
  return { ok: true, digest };
}

/** A budget window: `[start, end)`, counted from the grant's `notBefore`. */
export interface BudgetWindow {
  readonly start: Date;
  readonly end: Date;
}

/** What {@link evaluateFeature} decides from. */
export interface EvaluateFeatureParameters {
  readonly context: EntitlementContext;
  /** The grants the machine holds for the feature (any order). */
  readonly grants: readonly EntitlementGrant[];
  readonly revocations?: readonly EntitlementRevocation[];
  /** The machine's clock now, and how far it can be trusted. */
  readonly now: Date;
  readonly clock: ClockStatus;
  /** When the machine last reached the vendor or ledger (grants and revocations synced). */
  readonly lastOnline: Date;
  /**
   * The newest grant the machine accepted before (persisted): a chain must extend it —
   * an older generation is a rollback, another grant of its generation a fork.
   */
  readonly anchor?: { readonly generation: number; readonly digest: string };
  /** The latest time the machine ever saw: a clock now behind it was turned back. */
  readonly lastSeen?: Date;
  /** How much of the budget the grant (by digest) used in `window`. Default none. */
  readonly used?: (grantDigest: string, window: BudgetWindow) => Decimal;
  /** The use asked for, in the terms' unit. Default 1 (required for `perUnit`). */
  readonly amount?: Decimal;
}

/** An allowed use: the grant it rests on and the budget window it is counted in. */
export interface EntitlementAllowance {
  readonly allowed: true;
  readonly grant: EntitlementGrant;
  readonly digest: string;
  readonly window: BudgetWindow;
  readonly amount: Decimal;
  /** Budget left after this use (absent when the grant has no budget). */
  readonly remaining?: Decimal;
}

/** The answer of {@link evaluateFeature}. */
export type FeatureDecision = EntitlementAllowance | EntitlementDenial;

/** The budget (or paid-period) window of a grant that contains `at`. */
export function budgetWindow(grant: EntitlementGrant, at: Date): BudgetWindow {
  const from = grant.notBefore.getTime();
  const period = grant.terms.periodMs ?? 0;
  const resets = period > 0 && grant.terms.kind !== "perPeriod";
  if (!resets) return { start: grant.notBefore, end: grant.notAfter };
  const k = Math.floor((at.getTime() - from) / period);
  const start = from + k * period;
  return {
    start: new Date(start),
    end: new Date(Math.min(start + period, grant.notAfter.getTime())),
  };
}

/**
 * Decides, offline and without side effects, whether the machine may use a feature now:
 * every grant verifies, the chain is unbroken and not rolled back, the newest grant is not
 * revoked, the clock is trusted and not turned back, now is within validity, the machine
 * was online within the grant's grace, and the budget holds the use.
 * Strict: a grant that fails any check denies (never "the next best grant").
 *
 * @example
 * const d = evaluateFeature({ context, grants, revocations, now, clock: "synchronised", lastOnline });
 * if (!d.allowed) console.log(d.reason);
 */
export function evaluateFeature(params: EvaluateFeatureParameters): FeatureDecision {
  const { context, now } = params;
  if (params.grants.length === 0) return deny("metering.entitlement.noGrant", {});
  const verified: { grant: EntitlementGrant; digest: string }[] = [];
  for (const grant of params.grants) {
    const v = verifyEntitlementGrant(grant, context);
    if (!v.ok) return deny(v.reason, { ...v.details, generation: grant.generation });
    verified.push({ grant, digest: v.digest });
  }
  verified.sort((a, b) => a.grant.generation - b.grant.generation);
  const chain = checkChain(verified, params.anchor);
  if (chain !== undefined) return chain;
  const newest = verified[verified.length - 1]!;
  const grant = newest.grant;

  for (const r of params.revocations ?? []) {
    const v = checkSigned(r, context, entitlementRevocationDigest);
    // A revocation that does not verify carries no authority: it is ignored.
    if (!v.ok || r.machineId !== context.machineId || r.featureId !== context.featureId) continue;
    if (r.grant === newest.digest && now.getTime() >= r.revokedAt.getTime()) {
      return deny("metering.entitlement.revoked", {
        generation: grant.generation,
        revokedAt: r.revokedAt.toISOString(),
      });
    }
  }

  if (params.clock === "unknown") return deny("metering.entitlement.clockUnknown", {});
  const latest = Math.max(params.lastSeen?.getTime() ?? 0, params.lastOnline.getTime());
  if (now.getTime() < latest) {
    return deny("metering.entitlement.clockBehind", {
      now: now.toISOString(),
      lastSeen: new Date(latest).toISOString(),
    });
  }
  if (now < grant.notBefore) {
    return deny("metering.entitlement.notYetValid", { notBefore: grant.notBefore.toISOString() });
  }
  if (now >= grant.notAfter) {
    return deny("metering.entitlement.expired", { notAfter: grant.notAfter.toISOString() });
  }
  const offline = now.getTime() - params.lastOnline.getTime();
  if (offline > grant.offlineGraceMs) {
    return deny("metering.entitlement.offlineBeyondGrace", {
      offlineMs: offline,
      offlineGraceMs: grant.offlineGraceMs,
    });
  }

  const amount = params.amount ?? dec(1);
  if (params.amount === undefined && grant.terms.kind === "perUnit") {
    return deny("metering.entitlement.malformed", { amount: "is required for perUnit" });
  }
  if (!amount.isFinite() || amount.isNegative() || amount.isZero()) {
    return deny("metering.entitlement.malformed", { amount: amount.toString() });
  }
  const window = budgetWindow(grant, now);
  const budget = grant.terms.budget;
  if (budget === undefined) return { allowed: true, grant, digest: newest.digest, window, amount };
  const used = params.used?.(newest.digest, window) ?? dec(0);
  const remaining = budget.minus(used).minus(amount);
  if (remaining.isNegative()) {
    return deny("metering.entitlement.budgetExhausted", {
      budget: budget.toFixed(),
      used: used.toFixed(),
      amount: amount.toFixed(),
      window: { start: window.start.toISOString(), end: window.end.toISOString() },
    });
  }
  return { allowed: true, grant, digest: newest.digest, window, amount, remaining };
}

function checkChain(
  verified: readonly { grant: EntitlementGrant; digest: string }[],
  anchor: EvaluateFeatureParameters["anchor"],
): EntitlementDenial | undefined {
  const first = verified[0]!;
  const newest = verified[verified.length - 1]!;
  if (anchor !== undefined) {
    if (newest.grant.generation < anchor.generation) {
      return deny("metering.entitlement.rolledBack", {
        generation: newest.grant.generation,
        anchor: anchor.generation,
      });
    }
    const linksToAnchor =
      (first.grant.generation === anchor.generation && first.digest === anchor.digest) ||
      (first.grant.generation === anchor.generation + 1 && first.grant.prevGrant === anchor.digest);
    const holdsAnchor = verified.some(
      (v) => v.grant.generation === anchor.generation && v.digest === anchor.digest,
    );
    if (!linksToAnchor && !holdsAnchor && first.grant.generation !== 0) {
      return deny("metering.entitlement.brokenChain", {
        generation: first.grant.generation,
        anchor: anchor.generation,
      });
    }
    const atAnchor = verified.find((v) => v.grant.generation === anchor.generation);
    if (atAnchor !== undefined && atAnchor.digest !== anchor.digest) {
      return deny("metering.entitlement.brokenChain", {
        generation: anchor.generation,
        reason: "another grant of the accepted generation (a fork)",
      });
    }
  } else if (first.grant.generation !== 0) {
    return deny("metering.entitlement.brokenChain", {
      generation: first.grant.generation,
      reason: "the chain must start at generation 0 or at the accepted anchor",
    });
  }
  for (let i = 1; i < verified.length; i++) {
    const prev = verified[i - 1]!;
    const cur = verified[i]!;
    if (cur.grant.generation !== prev.grant.generation + 1 || cur.grant.prevGrant !== prev.digest) {
      return deny("metering.entitlement.brokenChain", {
        generation: cur.grant.generation,
        prevGrant: cur.grant.prevGrant,
        expected: prev.digest,
      });
    }
  }
  return undefined;
}
