import { readFile } from "node:fs/promises";
import {
  getBytes,
  keccak256,
  recoverAddress,
  Signature,
  type TypedDataDomain,
  TypedDataEncoder,
  type TypedDataField,
  toUtf8Bytes,
} from "ethers";
import { describe, expect, test } from "vitest";
import { buildMeterRecordVectors } from "./meterRecordVectors.js";

// The spec-only half of this file imports nothing from maaskit: it recomputes everything
// from docs/meter-record.md with ethers' generic EIP-712 code, as another implementation would.

const file = new URL("../../../../docs/meter-record.vectors.json", import.meta.url);
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
    signer: string;
    valid: boolean;
    reason: string | null;
    record?: Record<string, unknown>;
    statement?: Record<string, unknown>;
    extras?: {
      types: Record<string, TypedDataField[]>;
      message: Record<string, unknown>;
      hash: string;
    };
  }[];
};

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const BASIS: Record<string, number> = {
  "ISO1217-FAD": 1,
  "DIN1343-normal": 2,
  "ISO2533-standard": 3,
  actual: 4,
};
const FLAGS = ["bridged", "derivedFromRate", "rollover", "reset", "gap"];
const ZERO32 = `0x${"0".repeat(64)}`;

// --- the spec, re-implemented independently (docs/meter-record.md §1–§3) ---
const h = (s: string) => keccak256(toUtf8Bytes(s));
const fixed9 = (s: string) => {
  const [int, frac = ""] = s.split(".");
  if (frac.length > 9) throw new Error("not representable");
  return (BigInt(int!) * 10n ** 9n + BigInt(frac.padEnd(9, "0"))).toString();
};
const bytes8 = (unit: string) =>
  `0x${[...unit]
    .map((c) => c.charCodeAt(0).toString(16).padStart(2, "0"))
    .join("")
    .padEnd(16, "0")}`;
type Q = { value: string; unit: string; basis?: string };
type R = { start: string; end: string } | undefined;
const flagBits = (f: Record<string, boolean>, reg: R) =>
  FLAGS.reduce((b, name, i) => (f[name] ? b | (1 << i) : b), 0) | (reg === undefined ? 32 : 0);
const ms = (iso: unknown) => String(Date.parse(iso as string));

function specDomain(r: Record<string, unknown>): TypedDataDomain {
  return {
    name: "maaskit",
    version: "1",
    chainId: r.chainId as number,
    verifyingContract: r.verifyingContract as string,
    salt: h(r.agreementId as string),
  };
}

function specExtras(x: { quantities: Record<string, unknown>[]; oee?: Record<string, unknown> }) {
  return {
    quantities: x.quantities.map((q) => {
      const qq = q.quantity as Q;
      const reg = q.register as R;
      return {
        channel: q.channel,
        unit: bytes8(qq.unit),
        basis: String(qq.basis === undefined ? 0 : BASIS[qq.basis]),
        value: fixed9(qq.value),
        registerStart: reg ? fixed9(reg.start) : "0",
        registerEnd: reg ? fixed9(reg.end) : "0",
        flags: String(flagBits(q.flags as Record<string, boolean>, reg)),
      };
    }),
    oee:
      x.oee === undefined
        ? []
        : [
            {
              plannedBusyTime: String(x.oee.plannedBusyTimeMs),
              actualProductionTime: String(x.oee.actualProductionTimeMs),
              unit: bytes8((x.oee.produced as Q).unit),
              produced: fixed9((x.oee.produced as Q).value),
              good: fixed9((x.oee.good as Q).value),
            },
          ],
  };
}

function specRecordMessage(r: Record<string, unknown>, extrasHash: string) {
  const q = r.quantity as Q;
  const reg = r.register as R;
  return {
    version: String(r.version),
    machine: h(r.machineId as string),
    channel: h(r.channel as string),
    seq: String(r.seq),
    periodStart: ms(r.periodStart),
    periodEnd: ms(r.periodEnd),
    prevHash: r.prevHash,
    unit: bytes8(q.unit),
    basis: String(q.basis === undefined ? 0 : BASIS[q.basis]),
    quantity: fixed9(q.value),
    registerStart: reg ? fixed9(reg.start) : "0",
    registerEnd: reg ? fixed9(reg.end) : "0",
    flags: String(flagBits(r.flags as Record<string, boolean>, reg)),
    clock: String(["unknown", "informative", "synchronised"].indexOf(r.clock as string)),
    quarantined: String(r.quarantined),
    extrasHash,
  };
}

/** Verifies a signature by recovery, rejecting malformed and high-s signatures (EIP-2). */
function recovers(
  digest: string,
  signature: string,
  signer: string,
): "ok" | "malformed" | "highS" | "mismatch" {
  if (!/^0x[0-9a-f]{130}$/.test(signature)) return "malformed";
  const bytes = getBytes(signature);
  if (bytes[64] !== 27 && bytes[64] !== 28) return "malformed";
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  if (s > N / 2n) return "highS";
  return recoverAddress(digest, Signature.from(signature)) === signer ? "ok" : "mismatch";
}

const without = (types: Record<string, TypedDataField[]>, name: string) =>
  Object.fromEntries(Object.entries(types).filter(([k]) => k !== name));

describe("docs/meter-record.vectors.json, from the spec alone", () => {
  test("default: the file has valid and invalid vectors", () => {
    expect(doc.vectors.filter((v) => v.valid).length).toBeGreaterThanOrEqual(3);
    expect(doc.vectors.filter((v) => !v.valid).length).toBeGreaterThanOrEqual(6);
  });

  test("behavior: the type strings are what EIP-712 encodeType gives for the types", () => {
    for (const v of doc.vectors) {
      const types = without(v.typedData.types, "EIP712Domain");
      expect(TypedDataEncoder.from(types).encodeType(v.typedData.primaryType)).toBe(
        doc.typeStrings[v.typedData.primaryType],
      );
      expect(
        `EIP712Domain(${v.typedData.types.EIP712Domain!.map((f) => `${f.type} ${f.name}`).join(",")})`,
      ).toBe(doc.typeStrings.EIP712Domain);
    }
  });

  test.each(doc.vectors.map((v) => [v.name, v] as const))("vector: %s", (_name, v) => {
    const types = without(v.typedData.types, "EIP712Domain");
    const digest = TypedDataEncoder.hash(v.typedData.domain, types, v.typedData.message);
    expect(digest).toBe(v.digest);
    const outcome = recovers(digest, v.signature, v.signer);
    if (v.valid) {
      expect(outcome).toBe("ok");
      expect(v.reason).toBeNull();
      // The typed data is exactly the spec's mapping of the record JSON.
      const json = v.record ?? v.statement!;
      expect(v.typedData.domain).toEqual(specDomain(json));
      if (v.record !== undefined) {
        let extrasHash = ZERO32;
        if (v.record.extras !== undefined) {
          const message = specExtras(v.record.extras as never);
          expect(message).toEqual(v.extras!.message);
          extrasHash = TypedDataEncoder.from(v.extras!.types).hash(message);
          expect(extrasHash).toBe(v.extras!.hash);
        }
        expect(v.typedData.message).toEqual(specRecordMessage(v.record, extrasHash));
      }
      return;
    }
    expect(outcome).not.toBe("ok");
    switch (v.reason) {
      case "metering.record.badSignature":
        // Either a malformed/malleable signature, or content that differs from what was signed.
        if (outcome === "mismatch") {
          expect(v.record?.signer).toBe(v.signer);
        }
        break;
      case "metering.record.wrongSigner": {
        // A valid signature, but by the key the record names, which is not the allowed one.
        expect(outcome).toBe("mismatch");
        expect(v.record?.signer).not.toBe(v.signer);
        expect(recovers(digest, v.signature, v.record!.signer as string)).toBe("ok");
        break;
      }
      case "metering.record.wrongAgreement": {
        // The record as signed names another agreement/chain; under its own domain it verifies.
        const own = TypedDataEncoder.hash(specDomain(v.record!), types, v.typedData.message);
        expect(own).not.toBe(digest);
        expect(recovers(own, v.signature, v.signer)).toBe("ok");
        break;
      }
      default:
        throw new Error(`unexpected reason ${v.reason}`);
    }
  });
});

describe("docs/meter-record.vectors.json, generation", () => {
  test("behavior: the committed file is exactly what the generator gives (deterministic)", async () => {
    const fresh = await buildMeterRecordVectors();
    expect(JSON.parse(JSON.stringify(fresh))).toEqual(doc);
  });
});
