import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { EXIT } from "../exportReport.js";
import { dec } from "../quantity.js";
import { meterRecordToJson } from "../records/meterRecord.js";
import { runCli } from "../runCli.js";
import { entitlementGrantToJson, entitlementRevocationToJson } from "./entitlementJson.js";
import { entitlementGrantDigest } from "./grant.js";
import { openFeatureGate } from "./openFeatureGate.js";
import {
  FEATURE_BINDING,
  GRANT_START,
  MACHINE,
  SAMPLE_CONTEXT,
  sampleGrantChain,
  sampleUnsignedGrant,
  VENDOR,
} from "./sampleGrants.js";
import { signEntitlementGrant, signEntitlementRevocation } from "./signGrant.js";

const [g0, g1, g2] = await sampleGrantChain(3);
const grantLine = (g: typeof g0) => JSON.stringify(entitlementGrantToJson(g!));

async function verify(lines: string[], argv: string[] = []) {
  let stdout = "";
  const code = await runCli(["verify", "export.jsonl", ...argv], {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stdout += t;
    },
    readFile: async () => `${lines.join("\n")}\n`,
  });
  return { code, stdout };
}

describe("maaskit verify: grants, revocations and feature usage records", () => {
  test("default: a feature's grant chain, a revocation and its usage records verify with both keys named", async () => {
    const dir = mkdtempSync(join(tmpdir(), "maaskit-verify-grants-"));
    try {
      const state = { now: new Date(GRANT_START.getTime() + 2 * 3_600_000) };
      const gate = await openFeatureGate({
        file: join(dir, "features.db"),
        issuer: VENDOR.address,
        machineId: "compressor-7",
        signer: MACHINE,
        features: { boost: FEATURE_BINDING },
        clock: () => "synchronised",
        now: () => state.now,
      });
      gate.sync({ grants: [g0!] });
      await gate.useFeature("boost", { amount: dec("1.25") });
      state.now = new Date(state.now.getTime() + 3_600_000);
      await gate.useFeature("boost", { amount: dec("0.5") });
      const records = gate.records(FEATURE_BINDING.agreementId);
      gate.close();
      const revocation = await signEntitlementRevocation(
        {
          version: 1,
          ...FEATURE_BINDING,
          issuer: VENDOR.address,
          subject: MACHINE.address,
          machineId: "compressor-7",
          featureId: "boost",
          grant: entitlementGrantDigest(g1!),
          generation: 1,
          revokedAt: state.now,
        },
        { signer: VENDOR },
      );
      const lines = [
        grantLine(g0),
        grantLine(g1),
        grantLine(g2),
        JSON.stringify(entitlementRevocationToJson(revocation)),
        ...records.map((r) => JSON.stringify(meterRecordToJson(r))),
      ];
      const ok = await verify(lines, ["--signer", VENDOR.address, "--signer", MACHINE.address]);
      expect(ok.stdout).toContain("grant boost gen 2  valid");
      expect(ok.stdout).toContain("revocation boost gen 1  valid");
      expect(ok.stdout).toContain("6 lines, 6 valid, 0 invalid");
      expect(ok.code).toBe(EXIT.valid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("attack: a tampered grant, a rolled-back or broken chain, a stranger's grant — each named", async () => {
    const tampered = JSON.parse(grantLine(g1));
    tampered.terms.budget = "1000";
    const orphan = await signEntitlementGrant(
      sampleUnsignedGrant({ generation: 3, prevGrant: `0x${"ab".repeat(32)}` }),
      { signer: VENDOR },
    );
    const r = await verify(
      [
        grantLine(g0),
        JSON.stringify(tampered),
        grantLine(g1),
        grantLine(g0),
        grantLine(g2),
        grantLine(orphan),
      ],
      ["--signer", VENDOR.address],
    );
    expect(r.stdout).toContain(
      "line 2  grant boost gen 1  INVALID  metering.entitlement.badSignature",
    );
    expect(r.stdout).toContain(
      "line 4  grant boost gen 0  INVALID  metering.entitlement.rolledBack",
    );
    expect(r.stdout).toContain(
      "line 6  grant boost gen 3  INVALID  metering.entitlement.brokenChain",
    );
    expect(r.stdout).toContain("line 5  grant boost gen 2  valid");
    expect(r.code).toBe(EXIT.invalid);
    const stranger = await verify([grantLine(g0)], ["--signer", MACHINE.address]);
    expect(stranger.stdout).toContain("metering.entitlement.wrongIssuer");
    expect(stranger.code).toBe(EXIT.invalid);
    const unpinned = await verify([grantLine(g0)]);
    expect(unpinned.code).toBe(EXIT.unpinned);
    expect(SAMPLE_CONTEXT.issuer).toBe(VENDOR.address);
  });
});
