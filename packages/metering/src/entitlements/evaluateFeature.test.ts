import { Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import { GENESIS_HASH } from "../records/meterRecord.js";
import { type EvaluateFeatureParameters, evaluateFeature } from "./evaluateFeature.js";
import { type EntitlementGrant, entitlementGrantDigest } from "./grant.js";
import {
  GRANT_START,
  MACHINE,
  SAMPLE_CONTEXT,
  sampleGrantChain,
  sampleUnsignedGrant,
  VENDOR,
} from "./sampleGrants.js";
import { signEntitlementGrant, signEntitlementRevocation } from "./signGrant.js";

const HOUR = 3_600_000;
const NOW = new Date(GRANT_START.getTime() + 30 * HOUR);
const [g0, g1, g2] = await sampleGrantChain(3);

function decide(over: Partial<EvaluateFeatureParameters> = {}) {
  return evaluateFeature({
    context: SAMPLE_CONTEXT,
    grants: [g0!],
    now: NOW,
    clock: "synchronised",
    lastOnline: new Date(NOW.getTime() - HOUR),
    amount: dec("1.5"),
    ...over,
  });
}

function reason(over: Partial<EvaluateFeatureParameters> = {}) {
  const d = decide(over);
  return d.allowed ? "allowed" : d.reason;
}

describe("evaluateFeature: allowed", () => {
  test("default: a valid grant, in validity, online, within budget allows and says what is left", () => {
    const d = decide();
    expect(d.allowed).toBe(true);
    if (!d.allowed) return;
    expect(d.remaining!.toFixed()).toBe("8.5");
    expect(d.digest).toBe(entitlementGrantDigest(g0!));
    // budget windows of one day, counted from notBefore
    expect(d.window.start.toISOString()).toBe("2025-06-02T00:00:00.000Z");
    expect(d.window.end.toISOString()).toBe("2025-06-03T00:00:00.000Z");
  });

  test("behavior: the newest generation of an unbroken chain decides", () => {
    const d = decide({ grants: [g2!, g0!, g1!] });
    expect(d.allowed && d.grant.generation).toBe(2);
  });

  test("behavior: a grant without budget allows any amount", async () => {
    const unlimited = await signEntitlementGrant(
      sampleUnsignedGrant({ terms: { kind: "perUnit", unit: "HUR" } }),
      { signer: VENDOR },
    );
    const d = decide({ grants: [unlimited], amount: dec("1000") });
    expect(d.allowed).toBe(true);
    expect(d.allowed && d.remaining).toBeUndefined();
  });
});

describe("evaluateFeature: one test per rule", () => {
  test("error: no grant at all", () => {
    expect(reason({ grants: [] })).toBe("metering.entitlement.noGrant");
  });

  test("error: expired (now at notAfter, exclusive)", () => {
    expect(reason({ now: g0!.notAfter, lastOnline: g0!.notAfter })).toBe(
      "metering.entitlement.expired",
    );
  });

  test("error: not yet valid (one ms before notBefore)", () => {
    const early = new Date(GRANT_START.getTime() - 1);
    expect(reason({ now: early, lastOnline: early })).toBe("metering.entitlement.notYetValid");
  });

  test("error: revoked from revokedAt on (not before)", async () => {
    const revocation = await signEntitlementRevocation(
      {
        version: 1,
        ...SAMPLE_CONTEXT.binding,
        issuer: VENDOR.address,
        subject: MACHINE.address,
        machineId: "compressor-7",
        featureId: "boost",
        grant: entitlementGrantDigest(g0!),
        generation: 0,
        revokedAt: NOW,
      },
      { signer: VENDOR },
    );
    expect(reason({ revocations: [revocation] })).toBe("metering.entitlement.revoked");
    const before = new Date(NOW.getTime() - 1);
    expect(reason({ revocations: [revocation], now: before, lastOnline: before })).toBe("allowed");
    // a newer generation replaces the revoked grant
    expect(reason({ revocations: [revocation], grants: [g0!, g1!] })).toBe("allowed");
  });

  test("attack: a revocation not signed by the issuer carries no authority", async () => {
    const stranger = Wallet.createRandom();
    const forged = await signEntitlementRevocation(
      {
        version: 1,
        ...SAMPLE_CONTEXT.binding,
        issuer: stranger.address,
        subject: MACHINE.address,
        machineId: "compressor-7",
        featureId: "boost",
        grant: entitlementGrantDigest(g0!),
        generation: 0,
        revokedAt: GRANT_START,
      },
      { signer: stranger },
    );
    expect(reason({ revocations: [forged] })).toBe("allowed");
  });

  test("attack: rolled back to an older generation than the one accepted", () => {
    const anchor = { generation: 2, digest: entitlementGrantDigest(g2!) };
    expect(reason({ grants: [g0!, g1!], anchor })).toBe("metering.entitlement.rolledBack");
    expect(reason({ grants: [g0!, g1!, g2!], anchor })).toBe("allowed");
    expect(reason({ grants: [g2!], anchor })).toBe("allowed");
  });

  test("attack: a broken previous-grant hash, a gap or a fork of the accepted generation", async () => {
    const orphan = await signEntitlementGrant(
      sampleUnsignedGrant({ generation: 1, prevGrant: `0x${"ab".repeat(32)}` }),
      { signer: VENDOR },
    );
    expect(reason({ grants: [g0!, orphan] })).toBe("metering.entitlement.brokenChain");
    expect(reason({ grants: [g0!, g2!] })).toBe("metering.entitlement.brokenChain");
    expect(reason({ grants: [g1!] })).toBe("metering.entitlement.brokenChain");
    const fork = await signEntitlementGrant(
      sampleUnsignedGrant({
        generation: 1,
        prevGrant: entitlementGrantDigest(g0!),
        terms: { kind: "perUnit", unit: "HUR", budget: dec("1000") },
      }),
      { signer: VENDOR },
    );
    const anchor = { generation: 1, digest: entitlementGrantDigest(g1!) };
    expect(reason({ grants: [g0!, fork], anchor })).toBe("metering.entitlement.brokenChain");
  });

  test("attack: a grant for another machine (its id or its signer)", async () => {
    const other = await signEntitlementGrant(sampleUnsignedGrant({ machineId: "compressor-8" }), {
      signer: VENDOR,
    });
    expect(reason({ grants: [other] })).toBe("metering.entitlement.wrongMachine");
    const otherKey = await signEntitlementGrant(
      sampleUnsignedGrant({ subject: Wallet.createRandom().address }),
      { signer: VENDOR },
    );
    expect(reason({ grants: [otherKey] })).toBe("metering.entitlement.wrongMachine");
  });

  test("attack: a grant for another agreement or another chain", async () => {
    const other = await signEntitlementGrant(
      sampleUnsignedGrant({ agreementId: "agr-someone-else" }),
      { signer: VENDOR },
    );
    expect(reason({ grants: [other] })).toBe("metering.entitlement.wrongAgreement");
    const onChain = await signEntitlementGrant(sampleUnsignedGrant({ chainId: 1 }), {
      signer: VENDOR,
    });
    expect(reason({ grants: [onChain] })).toBe("metering.entitlement.wrongAgreement");
  });

  test("attack: a grant for another feature, or signed by a stranger naming itself issuer", async () => {
    const other = await signEntitlementGrant(sampleUnsignedGrant({ featureId: "monitoring" }), {
      signer: VENDOR,
    });
    expect(reason({ grants: [other] })).toBe("metering.entitlement.wrongFeature");
    const stranger = Wallet.createRandom();
    const forged = await signEntitlementGrant(sampleUnsignedGrant({ issuer: stranger.address }), {
      signer: stranger,
    });
    expect(reason({ grants: [forged] })).toBe("metering.entitlement.wrongIssuer");
  });

  // Every field of a grant, changed after signing while still matching the context, breaks
  // the signature (the fields the context pins are caught by their own rule first).
  const tamper: [string, (g: EntitlementGrant) => EntitlementGrant][] = [
    ["terms.kind", (g) => ({ ...g, terms: { ...g.terms, kind: "perActivation", unit: "C62" } })],
    ["terms.unit", (g) => ({ ...g, terms: { ...g.terms, unit: "MIN" } })],
    ["terms.budget", (g) => ({ ...g, terms: { ...g.terms, budget: dec("10.000000001") } })],
    [
      "terms.budget removed",
      (g) => ({ ...g, terms: { kind: "perUnit", unit: "HUR", periodMs: 86_400_000 } }),
    ],
    ["terms.periodMs", (g) => ({ ...g, terms: { ...g.terms, periodMs: 3_600_000 } })],
    ["notBefore", (g) => ({ ...g, notBefore: new Date(g.notBefore.getTime() - 1) })],
    ["notAfter", (g) => ({ ...g, notAfter: new Date(g.notAfter.getTime() + 1) })],
    ["offlineGraceMs", (g) => ({ ...g, offlineGraceMs: g.offlineGraceMs + 1 })],
    [
      "signature (one bit)",
      (g) => ({
        ...g,
        signature: `${g.signature.slice(0, 10)}${g.signature[10] === "0" ? "1" : "0"}${g.signature.slice(11)}`,
      }),
    ],
  ];
  test.each(tamper)("attack: tampered %s → badSignature", (_name, change) => {
    expect(reason({ grants: [change(g0!)] })).toBe("metering.entitlement.badSignature");
  });

  test("attack: tampered generation or prevGrant breaks the signature too", () => {
    expect(reason({ grants: [g0!, { ...g1!, prevGrant: GENESIS_HASH.replace(/0$/, "1") }] })).toBe(
      "metering.entitlement.badSignature",
    );
    expect(reason({ grants: [{ ...g0!, generation: 5 }] })).toBe("metering.entitlement.malformed");
  });

  test("error: budget exhausted in the current window, available again in the next", () => {
    const used = () => dec("9");
    expect(reason({ used, amount: dec("1") })).toBe("allowed");
    expect(reason({ used, amount: dec("1.000000001") })).toBe(
      "metering.entitlement.budgetExhausted",
    );
    const perWindow = (_d: string, w: { start: Date }) =>
      w.start.getTime() === GRANT_START.getTime() + 24 * HOUR ? dec("10") : dec("0");
    expect(reason({ used: perWindow })).toBe("metering.entitlement.budgetExhausted");
    const nextDay = new Date(NOW.getTime() + 24 * HOUR);
    expect(reason({ used: perWindow, now: nextDay, lastOnline: nextDay })).toBe("allowed");
  });

  test("error: offline beyond grace (exactly at grace still allowed)", () => {
    const grace = g0!.offlineGraceMs;
    expect(reason({ lastOnline: new Date(NOW.getTime() - grace) })).toBe("allowed");
    expect(reason({ lastOnline: new Date(NOW.getTime() - grace - 1) })).toBe(
      "metering.entitlement.offlineBeyondGrace",
    );
  });

  test("attack: an unknown clock, or a clock turned back behind what the machine saw, denies", () => {
    expect(reason({ clock: "unknown" })).toBe("metering.entitlement.clockUnknown");
    expect(reason({ lastSeen: new Date(NOW.getTime() + 1) })).toBe(
      "metering.entitlement.clockBehind",
    );
  });

  test("error: a perUnit use must say how much, and a non-positive amount is malformed", () => {
    expect(reason({ amount: undefined })).toBe("metering.entitlement.malformed");
    expect(reason({ amount: dec("0") })).toBe("metering.entitlement.malformed");
    expect(reason({ amount: dec("-1") })).toBe("metering.entitlement.malformed");
  });
});
