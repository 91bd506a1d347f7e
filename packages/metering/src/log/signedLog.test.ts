import { fc, test } from "@fast-check/vitest";
import { Wallet } from "ethers";
import { beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../canonicalJson.js";
import { type LogEntry, signLogEntry, verifyLogEntries } from "./signedLog.js";

const key = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
const other = new Wallet("0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f");
const log: LogEntry[] = [];

beforeAll(async () => {
  let head: LogEntry | undefined;
  const items: { type: string; payload: Record<string, unknown> }[] = [
    { type: "serviceRequest", payload: { id: "c1/oil/1", runHours: "4000.5" } },
    { type: "workOrder.funded", payload: { amount: "250.00", currency: "EUR" } },
    { type: "workOrder.paid", payload: { parts: ["oil 20 l", "filter"], amount: "250.00" } },
  ];
  for (const [i, item] of items.entries()) {
    head = await signLogEntry(
      { logId: "maintenance/c1", at: new Date(Date.UTC(2026, 0, 1 + i)), ...item, head },
      key,
    );
    log.push(head);
  }
});

const codes = (results: ReturnType<typeof verifyLogEntries>) =>
  results.map((r) => (r.valid ? "ok" : r.reasons.map((x) => x.code).join("+")));

describe("signedLog", () => {
  it("default: a signed log verifies", () => {
    expect(codes(verifyLogEntries(log, { signers: [key.address] }))).toEqual(["ok", "ok", "ok"]);
  });

  it("behavior: identical inputs give identical entries, bytes included", async () => {
    const again = await signLogEntry(
      {
        logId: "maintenance/c1",
        at: new Date(Date.UTC(2026, 0, 1)),
        type: "serviceRequest",
        payload: { runHours: "4000.5", id: "c1/oil/1" },
      },
      key,
    );
    expect(JSON.stringify(again)).toBe(JSON.stringify(log[0]));
  });

  it("behavior: canonical JSON sorts keys and drops undefined", () => {
    expect(canonicalJson({ b: 1, a: [{ d: undefined, c: "x" }], e: null })).toBe(
      '{"a":[{"c":"x"}],"b":1,"e":null}',
    );
  });

  test.prop([fc.constantFrom(0, 1, 2), fc.constantFrom("at", "type", "payload", "logId", "seq")])(
    "behavior: tampering any field of any entry is detected at that entry",
    (index, field) => {
      const tampered = log.map((e) => ({ ...e })) as Record<string, unknown>[];
      const e = tampered[index]!;
      if (field === "at") e.at = "2027-01-01T00:00:00.000Z";
      if (field === "type") e.type = "workOrder.cancelled";
      if (field === "payload") e.payload = { amount: "1.00" };
      if (field === "logId") e.logId = "maintenance/c2";
      if (field === "seq") e.seq = (e.seq as number) + 7;
      const results = verifyLogEntries(tampered);
      expect(results[index]!.valid).toBe(false);
      expect(results[index]!.reasons.map((r) => r.code)).toContain("metering.log.badSignature");
      results.forEach((r, i) => {
        if (i < index) expect(r.valid).toBe(true);
      });
    },
  );

  it("error: deletion, duplication and reordering are named", () => {
    expect(codes(verifyLogEntries([log[0], log[2]]))).toEqual([
      "ok",
      "metering.log.seqGap+metering.log.brokenChain",
    ]);
    expect(codes(verifyLogEntries([log[0], log[1], log[1]]))).toEqual([
      "ok",
      "ok",
      "metering.log.seqDuplicate+metering.log.brokenChain",
    ]);
    expect(codes(verifyLogEntries([log[1], log[0]]))).toEqual([
      "metering.log.seqGap+metering.log.brokenChain",
      "metering.log.seqGap+metering.log.brokenChain+metering.log.timeNotMonotonic",
    ]);
  });

  it("error: a log signed by another key is rejected as wrongSigner", async () => {
    const forged = await signLogEntry(
      { logId: "maintenance/c1", at: new Date(Date.UTC(2026, 0, 1)), type: "x", payload: {} },
      other,
    );
    expect(codes(verifyLogEntries([forged], { signers: [key.address] }))).toEqual([
      "metering.log.wrongSigner",
    ]);
    const claimed = { ...forged, signer: key.address };
    expect(codes(verifyLogEntries([claimed], { signers: [key.address] }))).toEqual([
      "metering.log.badSignature",
    ]);
  });

  it("error: malformed lines are reported, not thrown", () => {
    expect(
      codes(
        verifyLogEntries([
          null,
          { kind: "logEntry" },
          { ...log[0], at: "yesterday" },
          { ...log[0], payload: undefined },
        ]),
      ),
    ).toEqual([
      "metering.log.malformed",
      "metering.log.malformed",
      "metering.log.malformed",
      "metering.log.malformed",
    ]);
  });
});
