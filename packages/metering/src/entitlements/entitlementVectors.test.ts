import { readFile } from "node:fs/promises";
import {
  keccak256,
  recoverAddress,
  Signature,
  TypedDataEncoder,
  type TypedDataField,
  toUtf8Bytes,
} from "ethers";
import { describe, expect, test } from "vitest";
import { entitlementGrantFromJson, entitlementRevocationFromJson } from "./entitlementJson.js";
import { buildEntitlementVectors } from "./entitlementVectors.js";
import { verifyEntitlementGrant } from "./evaluateFeature.js";

// The first half imports nothing of maaskit's encoding: it rebuilds every typed message from
// the JSON form as docs/entitlements.md says, with ethers' generic EIP-712 code.

const file = new URL("../../../../docs/entitlements.vectors.json", import.meta.url);
const doc = JSON.parse(await readFile(file, "utf8")) as {
  typeStrings: Record<string, string>;
  vectors: {
    name: string;
    typedData: {
      types: Record<string, TypedDataField[]>;
      primaryType: string;
      domain: Record<string, unknown>;
      message: Record<string, unknown>;
    };
    digest: string;
    signature: string;
    issuer: string;
    valid: boolean;
    reason: string | null;
    grant?: Record<string, unknown>;
    revocation?: Record<string, unknown>;
  }[];
};

const h = (s: string) => keccak256(toUtf8Bytes(s));
const fixed9 = (s: string) => {
  const [int, frac = ""] = s.split(".");
  return (BigInt(int!) * 10n ** 9n + BigInt(frac.padEnd(9, "0"))).toString();
};
const bytes8 = (unit: string) =>
  `0x${[...unit]
    .map((c) => c.charCodeAt(0).toString(16).padStart(2, "0"))
    .join("")
    .padEnd(16, "0")}`;
const KIND: Record<string, string> = { perActivation: "1", perPeriod: "2", perUnit: "3" };
const ms = (iso: unknown) => String(Date.parse(iso as string));

function specDomain(j: Record<string, unknown>) {
  return {
    name: "maaskit",
    version: "1",
    chainId: j.chainId,
    verifyingContract: j.verifyingContract,
    salt: h(j.agreementId as string),
  };
}

function specGrantMessage(g: Record<string, unknown>) {
  const t = g.terms as { kind: string; unit: string; budget?: string; periodMs?: number };
  return {
    version: "1",
    issuer: g.issuer,
    subject: g.subject,
    machine: h(g.machineId as string),
    feature: h(g.featureId as string),
    kind: KIND[t.kind],
    unit: bytes8(t.unit),
    budgeted: t.budget !== undefined,
    budget: t.budget === undefined ? "0" : fixed9(t.budget),
    period: String(t.periodMs ?? 0),
    notBefore: ms(g.notBefore),
    notAfter: ms(g.notAfter),
    offlineGrace: String(g.offlineGraceMs),
    generation: String(g.generation),
    prevGrant: g.prevGrant,
  };
}

function specRevocationMessage(r: Record<string, unknown>) {
  return {
    version: "1",
    issuer: r.issuer,
    subject: r.subject,
    machine: h(r.machineId as string),
    feature: h(r.featureId as string),
    grant: r.grant,
    generation: String(r.generation),
    revokedAt: ms(r.revokedAt),
  };
}

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const without = (types: Record<string, TypedDataField[]>, name: string) =>
  Object.fromEntries(Object.entries(types).filter(([k]) => k !== name));

describe("docs/entitlements.vectors.json, from the spec alone", () => {
  test("default: valid grants, a revocation and invalid grants are present", () => {
    expect(doc.vectors.filter((v) => v.valid && v.grant).length).toBeGreaterThanOrEqual(3);
    expect(doc.vectors.filter((v) => v.revocation).length).toBeGreaterThanOrEqual(1);
    expect(doc.vectors.filter((v) => !v.valid).length).toBeGreaterThanOrEqual(2);
  });

  test.each(doc.vectors.map((v) => [v.name, v] as const))("vector: %s", (_name, v) => {
    const types = without(v.typedData.types, "EIP712Domain");
    expect(TypedDataEncoder.from(types).encodeType(v.typedData.primaryType)).toBe(
      doc.typeStrings[v.typedData.primaryType],
    );
    const json = (v.grant ?? v.revocation)!;
    expect(v.typedData.domain).toEqual(specDomain(json));
    const message = v.grant ? specGrantMessage(v.grant) : specRevocationMessage(v.revocation!);
    const digest = TypedDataEncoder.hash(specDomain(json) as never, types, message);
    const sig = Signature.from(v.signature);
    expect(BigInt(sig.s) <= N / 2n).toBe(true);
    const recovered = recoverAddress(digest, sig);
    if (v.valid) {
      expect(v.typedData.message).toEqual(message);
      expect(digest).toBe(v.digest);
      expect(recovered).toBe(v.issuer);
      expect(json.signature).toBe(v.signature);
    } else {
      expect(recovered).not.toBe(v.issuer);
    }
  });
});

describe("docs/entitlements.vectors.json, with maaskit", () => {
  test.each(
    doc.vectors.filter((v) => v.grant).map((v) => [v.name, v] as const),
  )("verifyEntitlementGrant: %s", (_name, v) => {
    const grant = entitlementGrantFromJson(v.grant);
    const result = verifyEntitlementGrant(grant, {
      binding: grant,
      issuer: v.issuer,
      machineId: grant.machineId,
      subject: grant.subject,
      featureId: grant.featureId,
    });
    expect(result.ok ? null : result.reason).toBe(v.reason);
  });

  test("behavior: a revocation parses back to what was signed", () => {
    const v = doc.vectors.find((x) => x.revocation)!;
    const r = entitlementRevocationFromJson(v.revocation);
    expect(r.revokedAt.toISOString()).toBe(v.revocation!.revokedAt);
  });

  test("behavior: the committed file is exactly what the generator gives (deterministic)", async () => {
    const fresh = await buildEntitlementVectors();
    expect(JSON.parse(JSON.stringify(fresh))).toEqual(doc);
  });

  test("error: JSON with an unknown key or a non-canonical budget is malformed", () => {
    const v = doc.vectors.find((x) => x.grant)!;
    expect(() => entitlementGrantFromJson({ ...v.grant, extra: 1 })).toThrow(
      expect.objectContaining({ code: "metering.entitlement.malformed" }),
    );
    const terms = { ...(v.grant!.terms as object), budget: "10.0" };
    expect(() => entitlementGrantFromJson({ ...v.grant, terms })).toThrow(
      expect.objectContaining({ code: "metering.entitlement.malformed" }),
    );
  });
});
