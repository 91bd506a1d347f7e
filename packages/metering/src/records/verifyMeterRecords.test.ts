import { fc, test as fcTest } from "@fast-check/vitest";
import { Signature, Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { meterRecordDigest } from "./encodeMeterRecord.js";
import { type MeterRecord, meterRecordFromJson, meterRecordToJson } from "./meterRecord.js";
import { nextChainState } from "./meterRecordChain.js";
import {
  OTHER_TEST_KEY,
  sampleChain,
  sampleWindow,
  TEST_BINDING,
  TEST_KEY,
} from "./sampleMeterRecords.js";
import { signMeterRecord } from "./signMeterRecord.js";
import { verifyMeterRecords } from "./verifyMeterRecords.js";

const SIGNER = new Wallet(TEST_KEY).address;
const chain = await sampleChain(6, { oee: true });

type Json = Record<string, unknown>;

/** Every leaf of a JSON record as a path, plus whole optional/object fields. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [i, v] as const)
      : Object.entries(value);
    const out: (string | number)[][] = prefix.length > 0 ? [prefix] : [];
    for (const [k, v] of entries) out.push(...paths(v, [...prefix, k]));
    return out;
  }
  return [prefix];
}

function get(obj: unknown, path: (string | number)[]): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], obj);
}

/** A different value of the same kind as `v`. */
function altered(v: unknown, key: string | number): unknown {
  if (typeof v === "number") return v + 1;
  if (typeof v === "string") {
    if (/^\d{4}-\d\d-\d\dT/.test(v)) return new Date(Date.parse(v) + 1).toISOString();
    if (/^0x[0-9a-fA-F]{40}$/.test(v)) return new Wallet(OTHER_TEST_KEY).address;
    if (/^0x[0-9a-f]+$/.test(v))
      return `${v.slice(0, 10)}${v[10] === "0" ? "1" : "0"}${v.slice(11)}`;
    if (/^\d+(\.\d+)?$/.test(v)) return dec(v).plus("0.001").toFixed();
    if (key === "clock") return v === "synchronised" ? "informative" : "synchronised";
    if (key === "basis") return v === "ISO1217-FAD" ? "DIN1343-normal" : "ISO1217-FAD";
    if (key === "kind") return "somethingElse";
    return `${v}x`;
  }
  if (v !== null && typeof v === "object") {
    // Objects: add a flag (flags) or drop the object's first key.
    if (key === "flags")
      return { ...(v as Json), bridged: (v as Json).bridged === true ? undefined : true };
    const [first] = Object.keys(v as Json);
    const copy = { ...(v as Json) };
    if (first !== undefined) delete copy[first];
    return copy;
  }
  return v;
}

function set(obj: Json, path: (string | number)[], value: unknown): Json {
  const copy = structuredClone(obj);
  let o: Record<string | number, unknown> = copy;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = JSON.parse(JSON.stringify(value));
  return copy;
}

/** Parses JSON lines as the CLI does: a line that does not parse counts as a rejected record. */
function verifyJson(lines: Json[], options = {}) {
  const parsed: (MeterRecord | undefined)[] = lines.map((l) => {
    try {
      return meterRecordFromJson(l);
    } catch {
      return undefined;
    }
  });
  return {
    parsed,
    result: verifyMeterRecords(
      parsed.filter((r) => r !== undefined),
      options,
    ),
  };
}

describe("verifyMeterRecords", () => {
  test("default: a signed chain verifies, with digests and the head", () => {
    const { valid, results, head } = verifyMeterRecords(chain, { signer: SIGNER });
    expect(valid).toBe(true);
    expect(results.map((r) => [r.seq, r.valid, r.reasons.length])).toEqual(
      chain.map((r) => [r.seq, true, 0]),
    );
    expect(results[2]?.digest).toBe(meterRecordDigest(chain[2]!));
    expect(head?.seq).toBe(6);
    expect(head?.prevHash).toBe(meterRecordDigest(chain[5]!));
  });

  test("behavior: survives the JSON round trip", () => {
    const lines = chain.map((r) => JSON.parse(JSON.stringify(meterRecordToJson(r))) as Json);
    expect(verifyJson(lines, { signer: SIGNER }).result.valid).toBe(true);
  });

  fcTest.prop([fc.integer({ min: 0, max: chain.length - 1 }), fc.nat()], { numRuns: 200 })(
    "behavior: tampering any single field of any record is detected and named",
    (index, pick) => {
      const lines = chain.map((r) => meterRecordToJson(r) as unknown as Json);
      const target = lines[index]!;
      const all = paths(target);
      const path = all[pick % all.length]!;
      const tampered = set(target, path, altered(get(target, path), path[path.length - 1]!));
      fc.pre(JSON.stringify(tampered) !== JSON.stringify(target));
      const copy = [...lines];
      copy[index] = tampered;
      const { parsed, result } = verifyJson(copy, { signer: SIGNER });
      if (parsed[index] === undefined) return; // rejected as malformed at parse time: detected
      const verdict = result.results[index]!;
      expect(verdict.valid, `tampered ${path.join(".")}`).toBe(false);
      expect(verdict.reasons.length).toBeGreaterThan(0);
      expect(verdict.errors[0]?.shortMessage).toMatch(/^seq \d+: /);
    },
  );

  test("behavior: every field path is covered by the tamper property", { timeout: 60_000 }, () => {
    // Exhaustive over every path of one record, so no field escapes by chance.
    const lines = chain.map((r) => meterRecordToJson(r) as unknown as Json);
    let verified = 0;
    let rejectedAtParse = 0;
    for (const index of [0, 3]) {
      for (const path of paths(lines[index])) {
        const target = lines[index]!;
        const tampered = set(target, path, altered(get(target, path), path[path.length - 1]!));
        if (JSON.stringify(tampered) === JSON.stringify(target)) continue;
        const copy = [...lines];
        copy[index] = tampered;
        const { parsed, result } = verifyJson(copy, { signer: SIGNER });
        if (parsed[index] === undefined) {
          rejectedAtParse++;
          continue;
        }
        verified++;
        expect(result.results[index]!.valid, `tampered ${path.join(".")}`).toBe(false);
      }
    }
    // Most tampering parses fine and is caught by the signature, not by the parser.
    expect(verified).toBeGreaterThan(50);
    expect(rejectedAtParse).toBeGreaterThan(0);
  });

  test("behavior: tampered quantity names badSignature and registerMismatch at its seq", () => {
    const t = {
      ...chain[2]!,
      quantity: { ...chain[2]!.quantity, value: chain[2]!.quantity.value.plus(1) },
    };
    const { results } = verifyMeterRecords([chain[0]!, chain[1]!, t, chain[3]!]);
    expect(results[2]?.reasons).toEqual([
      "metering.record.badSignature",
      "metering.record.registerMismatch",
    ]);
    expect(results[2]?.errors[0]?.shortMessage).toMatch(/^seq 2: /);
    // The next record still points at the genuine record: the chain is broken there too.
    expect(results[3]?.reasons).toEqual(["metering.record.brokenChain"]);
  });

  test("behavior: deleting a record is a seq gap and a broken chain, once", () => {
    const { results } = verifyMeterRecords([chain[0]!, chain[1]!, chain[3]!, chain[4]!]);
    expect(results.map((r) => r.reasons)).toEqual([
      [],
      [],
      [
        "metering.record.seqGap",
        "metering.record.brokenChain",
        "metering.record.periodGap",
        "metering.record.registerDiscontinuity",
      ],
      [],
    ]);
  });

  test("behavior: deleting the first record is caught with an expected start", () => {
    const { results } = verifyMeterRecords(chain.slice(1), {
      expectedStart: { seq: 0, prevHash: chain[0]!.prevHash },
    });
    expect(results[0]?.reasons).toEqual(["metering.record.seqGap", "metering.record.brokenChain"]);
  });

  test("behavior: duplicating a record is a seq duplicate", () => {
    const { results } = verifyMeterRecords([chain[0]!, chain[1]!, chain[1]!, chain[2]!]);
    expect(results[2]?.reasons).toEqual([
      "metering.record.seqDuplicate",
      "metering.record.brokenChain",
      "metering.record.periodOverlap",
      "metering.record.registerDiscontinuity",
    ]);
    expect(results[3]?.valid).toBe(true);
  });

  test("behavior: reordering records is detected", () => {
    const { valid, results } = verifyMeterRecords([chain[0]!, chain[2]!, chain[1]!, chain[3]!]);
    expect(valid).toBe(false);
    expect(results[1]?.reasons).toContain("metering.record.seqGap");
    expect(results[2]?.reasons).toContain("metering.record.seqOutOfOrder");
    expect(results[2]?.reasons).toContain("metering.record.periodOverlap");
    expect(results[3]?.reasons).toContain("metering.record.brokenChain");
  });

  test("error: records signed by another key are rejected as wrongSigner", async () => {
    const other = await sampleChain(3, { key: OTHER_TEST_KEY });
    const { valid, results } = verifyMeterRecords(other, { signer: SIGNER });
    expect(valid).toBe(false);
    expect(results.map((r) => r.reasons)).toEqual([
      ["metering.record.wrongSigner"],
      ["metering.record.wrongSigner"],
      ["metering.record.wrongSigner"],
    ]);
    expect(
      verifyMeterRecords(other, { signers: [SIGNER, new Wallet(OTHER_TEST_KEY).address] }).valid,
    ).toBe(true);
  });

  test("error: a record re-signed by another key but claiming the signer is a bad signature", async () => {
    const forged = await signMeterRecord(chain[0]!, { signer: new Wallet(OTHER_TEST_KEY) });
    const claimed = { ...forged, signer: SIGNER };
    expect(verifyMeterRecords([claimed]).results[0]?.reasons).toEqual([
      "metering.record.badSignature",
    ]);
  });

  test("error: a high-s twin of a valid signature is rejected as malleable", () => {
    const sig = Signature.from(chain[0]!.signature);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = `0x${sig.r.slice(2)}${(n - BigInt(sig.s)).toString(16).padStart(64, "0")}${sig.v === 27 ? "1c" : "1b"}`;
    const { results } = verifyMeterRecords([{ ...chain[0]!, signature: highS }]);
    expect(results[0]?.reasons).toEqual(["metering.record.badSignature"]);
    expect(results[0]?.errors[0]?.details.failure).toBe("highS");
  });

  test("error: a flipped recovery bit is rejected even after the key is cached", () => {
    const sig = chain[1]!.signature;
    const flipped = `${sig.slice(0, 130)}${sig.endsWith("1b") ? "1c" : "1b"}`;
    const { results } = verifyMeterRecords([chain[0]!, { ...chain[1]!, signature: flipped }]);
    expect(results[1]?.reasons).toEqual(["metering.record.badSignature"]);
  });

  test("error: a record for another agreement, chain or contract is rejected", async () => {
    const otherAgreement = await sampleChain(2, {
      binding: { ...TEST_BINDING, agreementId: "agr-other" },
    });
    expect(
      verifyMeterRecords(otherAgreement, { agreement: TEST_BINDING }).results[0]?.reasons,
    ).toEqual(["metering.record.wrongAgreement"]);
    const onChain = await sampleChain(1, {
      binding: {
        ...TEST_BINDING,
        chainId: 31337,
        verifyingContract: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
      },
    });
    expect(verifyMeterRecords(onChain, { agreement: TEST_BINDING }).results[0]?.reasons).toEqual([
      "metering.record.wrongAgreement",
    ]);
    // Re-labelling a record with another agreement breaks its signature (the salt differs).
    const relabelled = { ...chain[0]!, agreementId: "agr-other" };
    expect(
      verifyMeterRecords([relabelled], { agreement: { ...TEST_BINDING, agreementId: "agr-other" } })
        .results[0]?.reasons,
    ).toEqual(["metering.record.badSignature"]);
  });

  test("error: the first record must carry the genesis prevHash", () => {
    const { results } = verifyMeterRecords([{ ...chain[0]!, prevHash: chain[1]!.prevHash }]);
    expect(results[0]?.reasons).toEqual([
      "metering.record.badSignature",
      "metering.record.brokenChain",
    ]);
  });

  test("error: register delta inconsistent with the quantity (signed that way)", async () => {
    const w = sampleWindow(0);
    const air = w.usage[0]!;
    const bad = await signMeterRecord(
      buildMeterRecord(
        {
          ...w,
          usage: [{ ...air, quantity: { ...air.quantity, value: air.quantity.value.plus("0.5") } }],
        },
        {
          binding: TEST_BINDING,
          chain: { seq: 0, prevHash: chain[0]!.prevHash },
          clock: "synchronised",
        },
      ),
      { signer: new Wallet(TEST_KEY) },
    );
    expect(verifyMeterRecords([bad]).results[0]?.reasons).toEqual([
      "metering.record.registerMismatch",
    ]);
  });

  test("behavior: rollover and reset flags relax the register check to quantity ≥ registerEnd", async () => {
    const w = sampleWindow(0);
    const air = w.usage[0]!;
    const build = async (value: string, end: string) =>
      signMeterRecord(
        buildMeterRecord(
          {
            ...w,
            usage: [
              {
                ...air,
                quantity: { ...air.quantity, value: dec(value) },
                register: { start: dec("99990"), end: dec(end) },
                flags: { rollover: true },
              },
            ],
          },
          {
            binding: TEST_BINDING,
            chain: { seq: 0, prevHash: chain[0]!.prevHash },
            clock: "synchronised",
          },
        ),
        { signer: new Wallet(TEST_KEY) },
      );
    expect(verifyMeterRecords([await build("15", "5")]).valid).toBe(true);
    expect(verifyMeterRecords([await build("4", "5")]).results[0]?.reasons).toEqual([
      "metering.record.registerMismatch",
    ]);
  });

  test("behavior: verification continues a previous batch from its head", () => {
    const first = verifyMeterRecords(chain.slice(0, 3), { signer: SIGNER });
    const rest = verifyMeterRecords(chain.slice(3), { signer: SIGNER, expectedStart: first.head! });
    expect(rest.valid).toBe(true);
    expect(nextChainState(chain[2]!)).toEqual(first.head);
  });

  test("error: malformed records are named, not thrown", () => {
    const broken = {
      ...chain[0]!,
      quantity: { ...chain[0]!.quantity, value: dec("1.0000000001") },
    };
    const { results } = verifyMeterRecords([broken, chain[1]!]);
    expect(results[0]?.reasons).toEqual(["metering.record.malformed"]);
    expect(results[0]?.errors[0]?.details.problems).toEqual([
      {
        field: "quantity.value",
        problem: "has more than 9 decimals (1.0000000001)",
        code: "metering.record.notRepresentable",
      },
    ]);
    expect(results[1]?.valid).toBe(true);
  });
});
