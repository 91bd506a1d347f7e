import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import type { ClockStatus } from "../records/meterRecord.js";
import { verifyMeterRecords } from "../records/verifyMeterRecords.js";
import { entitlementGrantDigest } from "./grant.js";
import { type FeatureGate, openFeatureGate } from "./openFeatureGate.js";
import {
  FEATURE_BINDING,
  GRANT_START,
  MACHINE,
  sampleGrantChain,
  sampleUnsignedGrant,
  VENDOR,
} from "./sampleGrants.js";
import { signEntitlementGrant, signEntitlementRevocation } from "./signGrant.js";

const HOUR = 3_600_000;
const MONITORING = { ...FEATURE_BINDING, agreementId: "agr-compressor-7-monitoring" };
const [g0, g1, g2] = await sampleGrantChain(3);
const dirs: string[] = [];
const DAY = 24 * HOUR;
const nextUtcMidnight = (at: Date) => new Date((Math.floor(at.getTime() / DAY) + 1) * DAY);
const gates: FeatureGate[] = [];

afterEach(() => {
  for (const g of gates.splice(0)) g.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fixture() {
  const dir = mkdtempSync(join(tmpdir(), "maaskit-gate-"));
  dirs.push(dir);
  const state = {
    now: new Date(GRANT_START.getTime() + 30 * HOUR),
    clock: "synchronised" as ClockStatus,
  };
  const open = async () => {
    const gate = await openFeatureGate({
      file: join(dir, "features.db"),
      issuer: VENDOR.address,
      machineId: "compressor-7",
      signer: MACHINE,
      features: {
        boost: { ...FEATURE_BINDING, billingPeriodEnd: nextUtcMidnight },
        monitoring: MONITORING,
      },
      clock: () => state.clock,
      now: () => state.now,
    });
    gates.push(gate);
    return gate;
  };
  return { state, open };
}

describe("openFeatureGate", () => {
  test("default: each use is decremented and signed as a chained record on feature/boost, durable across a reopen", async () => {
    const { state, open } = fixture();
    let gate = await open();
    gate.sync({ grants: [g0!] });
    const first = await gate.useFeature("boost", { amount: dec("4") });
    expect(first.allowed && first.remaining!.toFixed()).toBe("6");
    state.now = new Date(state.now.getTime() + HOUR);
    const second = await gate.useFeature("boost", { amount: dec("5.5") });
    // seq 0 is the zero record of day 1 (the chain starts at notBefore)
    expect(second.allowed && second.record!.seq).toBe(2);
    gates.pop()!.close();

    gate = await open();
    expect(gate.checkFeature("boost", { amount: dec("0.5") }).allowed).toBe(true);
    const third = await gate.useFeature("boost", { amount: dec("0.6") });
    expect(third.allowed ? "allowed" : third.reason).toBe("metering.entitlement.budgetExhausted");
    const records = gate.records(FEATURE_BINDING.agreementId);
    expect(records.map((r) => [r.channel, r.quantity.value.toFixed(), r.quantity.unit])).toEqual([
      ["feature/boost", "0", "HUR"],
      ["feature/boost", "4", "HUR"],
      ["feature/boost", "5.5", "HUR"],
    ]);
    const verdict = verifyMeterRecords(records, {
      signer: MACHINE.address,
      agreement: FEATURE_BINDING,
    });
    expect(verdict.results.flatMap((r) => r.reasons)).toEqual([]);
    expect(verdict.valid).toBe(true);
    // the next day has a fresh budget
    state.now = new Date(state.now.getTime() + 24 * HOUR);
    gate.sync({});
    expect((await gate.useFeature("boost", { amount: dec("10") })).allowed).toBe(true);
  });

  test("behavior: checkFeature answers without counting anything", async () => {
    const { open } = fixture();
    const gate = await open();
    gate.sync({ grants: [g0!] });
    for (let i = 0; i < 3; i++)
      expect(gate.checkFeature("boost", { amount: dec("10") }).allowed).toBe(true);
    expect(gate.records(FEATURE_BINDING.agreementId)).toEqual([]);
  });

  test("attack: an older grant after a newer one is refused at sync and nothing of the call is kept", async () => {
    const { open } = fixture();
    const gate = await open();
    gate.sync({ grants: [g0!, g1!, g2!] });
    expect(() => gate.sync({ grants: [g1!] })).toThrow(
      expect.objectContaining({ code: "metering.entitlement.rolledBack" }),
    );
    const fork = await signEntitlementGrant(
      sampleUnsignedGrant({ generation: 4, prevGrant: entitlementGrantDigest(g2!) }),
      { signer: VENDOR },
    );
    expect(() => gate.sync({ grants: [fork] })).toThrow(
      expect.objectContaining({ code: "metering.entitlement.brokenChain" }),
    );
    const d = gate.checkFeature("boost", { amount: dec("1") });
    expect(d.allowed && d.grant.generation).toBe(2);
  });

  test("attack: a tampered grant is refused at sync", async () => {
    const { open } = fixture();
    const gate = await open();
    const tampered = { ...g0!, terms: { ...g0!.terms, budget: dec("1000") } };
    expect(() => gate.sync({ grants: [tampered] })).toThrow(
      expect.objectContaining({ code: "metering.entitlement.badSignature" }),
    );
    expect(gate.checkFeature("boost", { amount: dec("1") })).toMatchObject({
      allowed: false,
      reason: "metering.entitlement.noGrant",
    });
  });

  test("error: revoked, offline beyond grace, clock unknown or turned back — each denied with its reason and nothing counted", async () => {
    const { state, open } = fixture();
    const gate = await open();
    gate.sync({ grants: [g0!], at: state.now });
    const reason = async () => {
      const d = await gate.useFeature("boost", { amount: dec("1") });
      return d.allowed ? "allowed" : d.reason;
    };
    expect(await reason()).toBe("allowed");
    state.now = new Date(state.now.getTime() + g0!.offlineGraceMs + 1);
    expect(await reason()).toBe("metering.entitlement.offlineBeyondGrace");
    gate.sync({});
    expect(await reason()).toBe("allowed");
    state.clock = "unknown";
    expect(await reason()).toBe("metering.entitlement.clockUnknown");
    state.clock = "synchronised";
    state.now = new Date(state.now.getTime() - 60_000);
    expect(await reason()).toBe("metering.entitlement.clockBehind");
    state.now = new Date(state.now.getTime() + 120_000);
    const revocation = await signEntitlementRevocation(
      {
        version: 1,
        ...FEATURE_BINDING,
        issuer: VENDOR.address,
        subject: MACHINE.address,
        machineId: "compressor-7",
        featureId: "boost",
        grant: entitlementGrantDigest(g0!),
        generation: 0,
        revokedAt: state.now,
      },
      { signer: VENDOR },
    );
    gate.sync({ revocations: [revocation] });
    expect(await reason()).toBe("metering.entitlement.revoked");
    const uses = gate
      .records(FEATURE_BINDING.agreementId)
      .filter((r) => !r.quantity.value.isZero());
    expect(uses).toHaveLength(2);
  });

  test("behavior: a per-period feature is recorded once per period, whatever the uses in it", async () => {
    const { state, open } = fixture();
    const gate = await open();
    const monthly = await signEntitlementGrant(
      sampleUnsignedGrant({
        ...MONITORING,
        featureId: "monitoring",
        terms: { kind: "perPeriod", unit: "MON", periodMs: 10 * 24 * HOUR },
        offlineGraceMs: 30 * 24 * HOUR,
      }),
      { signer: VENDOR },
    );
    gate.sync({ grants: [monthly] });
    const first = await gate.useFeature("monitoring");
    expect(first.allowed && first.record?.quantity.unit).toBe("MON");
    state.now = new Date(state.now.getTime() + 24 * HOUR);
    const again = await gate.useFeature("monitoring");
    expect(again.allowed && again.periodPaid).toBe(true);
    state.now = new Date(GRANT_START.getTime() + 10 * 24 * HOUR);
    const next = await gate.useFeature("monitoring");
    expect(next.allowed && next.record?.seq).toBe(1);
    expect(gate.records(MONITORING.agreementId).map((r) => r.quantity.value.toFixed())).toEqual([
      "1",
      "1",
    ]);
  });

  test("behavior: no record straddles a billing boundary, and closePeriods brings the chain to the last one", async () => {
    const { state, open } = fixture();
    const gate = await open();
    gate.sync({ grants: [g0!] });
    // day 2, 06:00: the chain starts at notBefore (day 1 00:00): one zero record for day 1
    await gate.useFeature("boost", { amount: dec("2") });
    state.now = new Date(GRANT_START.getTime() + 3 * DAY + 2 * HOUR);
    gate.sync({});
    await gate.useFeature("boost", { amount: dec("1") });
    const closed = await gate.closePeriods(new Date(GRANT_START.getTime() + 4 * DAY));
    expect(closed.map((r) => r.periodEnd.toISOString())).toEqual(["2025-06-05T00:00:00.000Z"]);
    const records = gate.records(FEATURE_BINDING.agreementId);
    for (const r of records) {
      expect(nextUtcMidnight(r.periodStart).getTime()).toBeGreaterThanOrEqual(
        r.periodEnd.getTime(),
      );
    }
    expect(
      records.map((r) => `${r.periodStart.toISOString().slice(5, 16)} ${r.quantity.value}`),
    ).toEqual([
      "06-01T00:00 0",
      "06-02T00:00 2",
      "06-02T06:00 0",
      "06-03T00:00 0",
      "06-04T00:00 1",
      "06-04T02:00 0",
    ]);
    expect(
      verifyMeterRecords(records, { signer: MACHINE.address, agreement: FEATURE_BINDING }).valid,
    ).toBe(true);
  });
});
