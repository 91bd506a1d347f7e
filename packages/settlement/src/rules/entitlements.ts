import type { MeterRecord } from "@maaskit/metering";
import {
  type EntitlementContext,
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantFromJson,
  entitlementRevocationDigest,
  entitlementRevocationFromJson,
  evaluateFeature,
  FEATURE_CHANNEL_PREFIX,
  verifyEntitlementGrant,
} from "@maaskit/metering/entitlements";
import { Decimal } from "decimal.js";
import { recoverAddress } from "ethers";
import type { EntitlementState } from "../ledger.js";
import { type LedgerErrorCode, ledgerError } from "../ledgerErrors.js";
import { activeAgreement, agreementEntry } from "./agreements.js";
import { type AgreementEntry, type Outcome, type RulesState, sameAddress } from "./state.js";

/**
 * What an agreement holds of one feature: the grants the vendor registered (a chain by
 * generation), their revocations, and the budget the accepted feature records used per
 * grant and budget window. Plain data (saved with the agreement's state).
 */
export interface FeatureEntry {
  readonly grants: EntitlementGrant[];
  readonly digests: string[];
  readonly revocations: EntitlementRevocation[];
  /** `${grantDigest}@${windowStartMs}` → budget used. */
  readonly used: Record<string, Decimal>;
}

/** `metering.entitlement.<rule>` → `settlement.entitlement.<rule>` (one code per rule). */
function entitlementError(code: string, message: string, details: Record<string, unknown>) {
  const rule = code.slice(code.lastIndexOf(".") + 1);
  return ledgerError(`settlement.entitlement.${rule}` as LedgerErrorCode, message, details);
}

function parse<J, T>(json: J, from: (j: J) => T, what: string): T {
  try {
    return from(json);
  } catch (err) {
    throw ledgerError("settlement.entitlement.malformed", `The ${what} is malformed`, {
      problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
    });
  }
}

function unsupportedUnlessChecked(core: RulesState): void {
  if (!core.featureChecks) {
    throw ledgerError(
      "settlement.ledger.unsupported",
      "This backend does not hold entitlement grants yet (docs/evm.md)",
      {},
    );
  }
}

function contextOf(
  core: RulesState,
  e: AgreementEntry,
  featureId: string,
  subject: string,
): EntitlementContext {
  return {
    binding: { agreementId: e.agreement.agreementId, ...core.domain },
    // The vendor is the agreement's provider: only its key may grant or revoke.
    issuer: e.view.provider,
    machineId: e.view.machineId,
    subject,
    featureId,
  };
}

function featureOf(e: AgreementEntry, featureId: string): FeatureEntry {
  e.entitlements ??= {};
  e.entitlements[featureId] ??= { grants: [], digests: [], revocations: [], used: {} };
  return e.entitlements[featureId];
}

/**
 * The vendor registers a signed grant: it must verify under the agreement (signed by the
 * provider, for the agreement's machine and one of its signers) and extend the feature's
 * chain — generation 0 first, then each `prevGrant` the digest before it. The same grant
 * again is a no-op; an older generation is `rolledBack`, any other break `brokenChain`.
 */
export function grantEntitlement(core: RulesState, json: unknown, stamp: string): Outcome {
  unsupportedUnlessChecked(core);
  const grant = parse(json, entitlementGrantFromJson, "grant");
  const e = activeAgreement(core, grant.agreementId);
  const v = verifyEntitlementGrant(grant, contextOf(core, e, grant.featureId, grant.subject));
  if (!v.ok) throw entitlementError(v.reason, `Grant refused: ${v.reason}`, v.details);
  if (!e.agreement.signers.some((s) => sameAddress(s.address, grant.subject))) {
    throw entitlementError("wrongMachine", "The grant's subject is not a signer of the agreement", {
      subject: grant.subject,
    });
  }
  const f = e.entitlements?.[grant.featureId];
  const n = f?.grants.length ?? 0;
  if (f?.digests.includes(v.digest)) {
    return { result: stateOf(e, grant.featureId), events: [], changed: false };
  }
  if (grant.generation < n) {
    throw entitlementError(
      grant.generation < n - 1 ? "rolledBack" : "brokenChain",
      "The grant does not replace the newest registered grant",
      { generation: grant.generation, newest: n - 1 },
    );
  }
  if (grant.generation !== n || (n > 0 && grant.prevGrant !== f!.digests[n - 1])) {
    throw entitlementError("brokenChain", "The grant does not extend the registered chain", {
      generation: grant.generation,
      prevGrant: grant.prevGrant,
      expected: { generation: n, prevGrant: f?.digests[n - 1] ?? null },
    });
  }
  const entry = featureOf(e, grant.featureId);
  entry.grants.push(grant);
  entry.digests.push(v.digest);
  return {
    result: stateOf(e, grant.featureId),
    events: [
      {
        type: "EntitlementGranted",
        at: stamp,
        agreementId: grant.agreementId,
        featureId: grant.featureId,
        generation: grant.generation,
        grant: v.digest,
      },
    ],
    changed: true,
  };
}

/**
 * The vendor registers a signed revocation of a registered grant: from `revokedAt` on, no
 * feature record under that grant is accepted. The same revocation again is a no-op.
 */
export function revokeEntitlement(core: RulesState, json: unknown, stamp: string): Outcome {
  unsupportedUnlessChecked(core);
  const r = parse(json, entitlementRevocationFromJson, "revocation");
  const e = activeAgreement(core, r.agreementId);
  const f = e.entitlements?.[r.featureId];
  const at = f?.digests.indexOf(r.grant) ?? -1;
  if (f === undefined || at < 0 || f.grants[at]!.generation !== r.generation) {
    throw entitlementError("noGrant", "The revocation names no registered grant", {
      featureId: r.featureId,
      grant: r.grant,
    });
  }
  if (
    r.chainId !== core.domain.chainId ||
    !sameAddress(r.verifyingContract, core.domain.verifyingContract)
  ) {
    throw entitlementError("wrongAgreement", "The revocation is bound to another ledger", {
      chainId: r.chainId,
      verifyingContract: r.verifyingContract,
    });
  }
  const digest = parse(r, entitlementRevocationDigest, "revocation");
  const g = f.grants[at]!;
  if (!sameAddress(r.issuer, e.view.provider)) {
    throw entitlementError("wrongIssuer", "Only the provider may revoke", { issuer: r.issuer });
  }
  let signer: string;
  try {
    signer = recoverAddress(digest, r.signature);
  } catch {
    signer = "";
  }
  if (!sameAddress(signer, r.issuer)) {
    throw entitlementError("badSignature", "The revocation's signature is not the issuer's", {
      digest,
    });
  }
  if (r.machineId !== g.machineId || !sameAddress(r.subject, g.subject)) {
    throw entitlementError("wrongMachine", "The revocation is for another machine", {
      machineId: r.machineId,
      subject: r.subject,
    });
  }
  if (f.revocations.some((x) => x.signature === r.signature)) {
    return { result: stateOf(e, r.featureId), events: [], changed: false };
  }
  f.revocations.push(r);
  return {
    result: stateOf(e, r.featureId),
    events: [
      {
        type: "EntitlementRevoked",
        at: stamp,
        agreementId: r.agreementId,
        featureId: r.featureId,
        generation: r.generation,
        grant: r.grant,
        revokedAt: r.revokedAt.toISOString(),
      },
    ],
    changed: true,
  };
}

/**
 * The check of a batch's feature records (channel `feature/<id>`) against the registered
 * grants, by the rules of `evaluateFeature` at each record's end (the instant of the use):
 * the newest grant in force then (the last whose `notBefore` it reached), not revoked,
 * within validity, within the budget left after the accepted records and the batch's
 * earlier ones. A zero-quantity record (a chain brought to a period boundary) uses nothing
 * and always passes. The ledger cannot know when the machine was last online: the offline
 * grace is the machine's rule, a use made offline is judged by its own time.
 */
export function featureUses(core: RulesState, e: AgreementEntry) {
  /** featureId → budget key → used, for the batch's records so far. */
  const pending = new Map<string, Map<string, Decimal>>();
  const used = (featureId: string, key: string) =>
    pending.get(featureId)?.get(key) ?? e.entitlements?.[featureId]?.used[key] ?? new Decimal(0);
  return {
    check(
      record: MeterRecord,
      fail: (code: LedgerErrorCode, m: string, d?: Record<string, unknown>) => Error,
    ) {
      const priced = e.view.tariff.feature;
      if (priced !== undefined && record.channel !== `${FEATURE_CHANNEL_PREFIX}${priced.id}`) {
        throw fail("settlement.record.invalid", "the agreement bills one feature's records only", {
          channel: record.channel,
          expected: `${FEATURE_CHANNEL_PREFIX}${priced.id}`,
        });
      }
      if (
        !core.featureChecks ||
        !record.channel.startsWith(FEATURE_CHANNEL_PREFIX) ||
        record.quantity.value.isZero()
      ) {
        return;
      }
      const featureId = record.channel.slice(FEATURE_CHANNEL_PREFIX.length);
      const grants = grantsInForce(e.entitlements?.[featureId]?.grants ?? [], record.periodEnd);
      const d = evaluateFeature({
        context: contextOf(core, e, featureId, record.signer),
        grants,
        revocations: e.entitlements?.[featureId]?.revocations ?? [],
        now: record.periodEnd,
        clock: record.clock,
        lastOnline: record.periodEnd,
        used: (digest, window) => used(featureId, `${digest}@${window.start.getTime()}`),
        amount: record.quantity.value,
      });
      if (!d.allowed) {
        const rule = d.reason.slice(d.reason.lastIndexOf(".") + 1);
        throw fail(`settlement.entitlement.${rule}` as LedgerErrorCode, "feature use refused", {
          featureId,
          ...d.details,
        });
      }
      const key = `${d.digest}@${d.window.start.getTime()}`;
      const mine = pending.get(featureId) ?? new Map<string, Decimal>();
      pending.set(featureId, mine.set(key, used(featureId, key).plus(d.amount)));
    },
    commit() {
      for (const [featureId, keys] of pending) {
        for (const [key, u] of keys) featureOf(e, featureId).used[key] = u;
      }
    },
  };
}

/** The chain up to the newest grant in force at `at` (the last whose `notBefore` it reached). */
function grantsInForce(grants: readonly EntitlementGrant[], at: Date): EntitlementGrant[] {
  let n = 1;
  for (let i = 0; i < grants.length; i++) if (grants[i]!.notBefore <= at) n = i + 1;
  return grants.slice(0, n);
}

/** The registered grants, revocations and budget use of an agreement's features. */
export function entitlementsOf(core: RulesState, agreementId: string): EntitlementState[] {
  const e = agreementEntry(core, agreementId);
  return Object.keys(e.entitlements ?? {})
    .sort()
    .map((featureId) => stateOf(e, featureId));
}

function stateOf(e: AgreementEntry, featureId: string): EntitlementState {
  const f = e.entitlements![featureId]!;
  return {
    agreementId: e.agreement.agreementId,
    featureId,
    grants: [...f.grants],
    revocations: [...f.revocations],
    usage: Object.keys(f.used)
      .sort()
      .map((key) => {
        const [grant, start] = key.split("@") as [string, string];
        return { grant, windowStart: new Date(Number(start)), used: f.used[key]! };
      }),
  };
}
