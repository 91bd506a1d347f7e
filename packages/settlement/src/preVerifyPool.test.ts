import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type MeterRecord,
  meterRecordToJson,
  type PreVerifiedRecords,
  preVerifyMeterRecord,
} from "@maaskit/metering";
import { Decimal } from "decimal.js";
import { afterAll, describe, expect, it } from "vitest";
import { agreementToJson } from "./agreement.js";
import { scenarioAgreement, scenarioRecords } from "./conformance/ledgerScenario.js";
import type { LedgerDomain } from "./ledger.js";
import { embeddedLedger } from "./ledgers/embedded/embeddedLedger.js";
import { openAgreementWithConsent } from "./openAgreementWithConsent.js";
import { preVerifyPool, verifyThreadsOption } from "./preVerifyPool.js";
import { LedgerCore } from "./rules/index.js";

// Encoding and signature checks before the lock: the pool's verdicts are keyed by the exact
// JSON text of the record they were made for, and the rules use a verdict only for a record
// whose text is exactly that, decoded from that text. The attack tests come first. Worker threads load the
// TypeScript sources through tsx here (seconds on a busy machine): a generous timeout.

const SLOW = { timeout: 120_000 };

const at = new Date("2025-01-01T00:00:00Z");

/** A rules engine with one active agreement, and its signed records. */
async function activeCore(label: string) {
  const core = new LedgerCore();
  const agreement = scenarioAgreement(`preverify/${label}`);
  const opened = core.execute(
    { t: "openAgreement", agreement: agreementToJson(agreement), by: agreement.parties.provider },
    at,
  );
  core.execute(
    { t: "acceptAgreement", agreementId: agreement.agreementId, by: agreement.parties.customer },
    at,
  );
  const domain = (opened.result as { recordDomain: LedgerDomain }).recordDomain;
  const records = await scenarioRecords(agreement, domain);
  const submit = (rs: readonly MeterRecord[], pre?: PreVerifiedRecords) =>
    core.execute(
      {
        t: "submitRecords",
        agreementId: agreement.agreementId,
        records: rs.map(meterRecordToJson),
      },
      at,
      false,
      pre,
    );
  return { core, agreement, records, submit };
}

const text = (r: MeterRecord) => JSON.stringify(meterRecordToJson(r));

/** The record with its billed quantity raised (its signature kept): a relayer's edit. */
function raised(r: MeterRecord): MeterRecord {
  return { ...r, quantity: { ...r.quantity, value: r.quantity.value.plus(new Decimal(1)) } };
}

const pool = preVerifyPool(2);
afterAll(() => pool.close());

describe("pre-verified signatures in the rules", SLOW, () => {
  it("attack: a genuine record's 'valid' verdict is not used for a tampered record (badSignature)", async () => {
    const { records, submit } = await activeCore("reuse");
    const genuineText = text(records[0]!);
    const genuine = preVerifyMeterRecord(genuineText)!;
    expect(genuine.failure).toBeNull();
    // The genuine verdict, and the same verdict filed under every other text a relayer
    // could send: the tampered record's text is not among them.
    const stale = new Map([[genuineText, genuine]]);
    stale.set(genuineText.replace(/"value":"/, '"value":"1'), genuine);
    expect(() => submit([raised(records[0]!)], stale)).toThrow(
      expect.objectContaining({ code: "settlement.record.badSignature" }),
    );
  });

  it("attack: verdicts the pool made for a batch are not used for a tampered copy of it", async () => {
    const { records, submit } = await activeCore("batch");
    await pool.warm();
    const lookup = await pool.verify(records.map(meterRecordToJson));
    expect(lookup).toBeDefined();
    const tampered = [records[0]!, raised(records[1]!)];
    expect(() => submit(tampered, lookup)).toThrow(
      expect.objectContaining({ code: "settlement.record.badSignature" }),
    );
    // The genuine batch with the same verdicts is accepted.
    expect(submit(records, lookup).changed).toBe(true);
  });

  it("a verdict of 'mismatch' for the checked record is honoured", async () => {
    const { records, submit } = await activeCore("mismatch");
    const t = text(records[0]!);
    const genuine = preVerifyMeterRecord(t)!;
    expect(() =>
      submit([records[0]!], new Map([[t, { ...genuine, failure: "mismatch" }]])),
    ).toThrow(expect.objectContaining({ code: "settlement.record.badSignature" }));
  });
});

describe("preVerifyPool", SLOW, () => {
  it("answers, from its worker threads, the verdict the thread itself would give, for every record of calls made together", async () => {
    const { records } = await activeCore("pool");
    await pool.warm();
    const json = records.map(meterRecordToJson);
    const forged = meterRecordToJson(raised(records[2]!));
    const [a, b] = await Promise.all([pool.verify(json.slice(0, 3)), pool.verify([forged])]);
    for (const r of json.slice(0, 3)) {
      const t = JSON.stringify(r);
      expect(a?.get(t)).toEqual(preVerifyMeterRecord(t));
    }
    // Calls made in the same tick share one message per worker, and one map of verdicts.
    expect(a?.size).toBe(4);
    const bad = preVerifyMeterRecord(JSON.stringify(forged))!;
    expect(bad.failure).toBe("mismatch");
    expect(b?.get(JSON.stringify(forged))).toEqual(bad);
  });

  it("gives no verdicts with no threads, for undecodable input, or once closed", async () => {
    const none = preVerifyPool(0);
    expect(await none.verify([{}])).toBeUndefined();
    const other = preVerifyPool(1);
    await other.warm();
    expect(await other.verify([{ seq: 1 }, null])).toBeUndefined();
    await other.close();
    const { records } = await activeCore("closed");
    expect(await other.verify([meterRecordToJson(records[0]!)])).toBeUndefined();
  });

  it("error: verifyThreads must be a whole number from 0 to 256", () => {
    expect(verifyThreadsOption(0)).toBe(0);
    expect(verifyThreadsOption(undefined)).toBeGreaterThanOrEqual(1);
    for (const bad of [-1, 1.5, 257, "2", Number.NaN]) {
      expect(() => verifyThreadsOption(bad)).toThrow(
        expect.objectContaining({ code: "settlement.ledger.unavailable" }),
      );
    }
  });
});

describe("embeddedLedger with signature checks on worker threads", SLOW, () => {
  it("the same results and events as checking in the rules' thread, including a refused forgery", async () => {
    const outcomes: unknown[] = [];
    for (const threads of [0, 2]) {
      const dir = await mkdtemp(join(tmpdir(), "maaskit-preverify-"));
      const ledger = embeddedLedger({
        dir,
        verifyThreads: threads,
        clock: { now: () => at },
      });
      await ledger.startVerifyThreads();
      const agreement = scenarioAgreement("preverify/ledger");
      const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
      const records = await scenarioRecords(agreement, recordDomain);
      const id = agreement.agreementId;
      const settled = await Promise.allSettled([
        ...records.slice(0, 4).map((r) => ledger.submitRecords({ agreementId: id, records: [r] })),
        ledger.submitRecords({ agreementId: id, records: [raised(records[4]!)] }),
        ledger.submitRecords({ agreementId: id, records: records.slice(4) }),
      ]);
      outcomes.push({
        settled: settled.map((s) =>
          s.status === "fulfilled" ? s.value : (s.reason as { code: string }).code,
        ),
        events: await ledger.getEvents(),
        head: await ledger.getRecordsHead(id),
      });
      await ledger.close();
      await rm(dir, { recursive: true, force: true });
    }
    expect(outcomes[1]).toEqual(outcomes[0]);
    const first = outcomes[0] as { settled: unknown[] };
    expect(first.settled[4]).toBe("settlement.record.badSignature");
    expect((first.settled[5] as { accepted: number }).accepted).toBeGreaterThan(0);
  });
});
