import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type DeliveryEvent,
  type MeterRecord,
  meterRecordCodec,
  meterRecordDigest,
  openJournal,
  signMeterRecord,
} from "@maaskit/metering";
import { filter, firstValueFrom } from "rxjs";
import { afterEach, describe, expect, it } from "vitest";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
  scenarioUsage,
  unsignedScenarioRecord,
} from "./conformance/ledgerScenario.js";
import { createSettlementClient } from "./createSettlementClient.js";
import { embeddedLedger } from "./ledgers/embedded/embeddedLedger.js";
import { openAgreementWithConsent } from "./openAgreementWithConsent.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-client-"));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function setup(label: string) {
  const clock = scenarioClock("2025-01-03T00:00:00Z");
  const ledger = embeddedLedger({ dir: await tempDir(), clock });
  const agreement = scenarioAgreement(label);
  const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
  const records = await scenarioRecords(agreement, recordDomain);
  const journal = await openJournal<MeterRecord>({ dir: await tempDir(), codec: meterRecordCodec });
  return { clock, ledger, agreement, records, journal, recordDomain };
}

function next(
  events$: ReturnType<typeof createSettlementClient>["delivery"],
  type: DeliveryEvent<MeterRecord>["type"],
) {
  return firstValueFrom(events$!.events$.pipe(filter((e) => e.type === type)));
}

describe("createSettlementClient", () => {
  it("default: delivers the journal's records to the ledger, exactly once, and exposes invoices", async () => {
    const { ledger, agreement, records, journal } = await setup("client/default");
    for (const r of records.slice(0, 4)) await journal.append(r);
    const client = createSettlementClient({
      ledger,
      journal,
      delivery: { backoff: { initialMs: 1 } },
    });
    const caughtUp = next(client.delivery, "caughtUp");
    client.start();
    await caughtUp;
    // A crash between the ledger's confirmation and the journal's ack resubmits: a duplicate.
    const again = await client.sink.submit(records[3]!);
    expect(again).toEqual({ ledgerRef: meterRecordDigest(records[3]!) });
    const settled = firstValueFrom(client.settlements$);
    await ledger.settlePeriod({ agreementId: agreement.agreementId, period: scenarioDay(0) });
    expect((await settled).total).toBe("32.46");
    expect((await client.getInvoices(agreement.agreementId)).length).toBe(1);
    expect((await ledger.getRecordsHead(agreement.agreementId)).nextSeq).toBe(4);
    expect(journal.state().ackedThrough).toBe(3);
    await client.stop();
    await journal.close();
    await ledger.close();
  });

  it("behavior: swapping the backend needs no change on the metering side", async () => {
    const a = await setup("client/swap");
    const other = embeddedLedger({ dir: await tempDir(), clock: a.clock });
    await openAgreementWithConsent(other, a.agreement);
    for (const r of a.records.slice(0, 2)) await a.journal.append(r);
    const first = createSettlementClient({ ledger: a.ledger, journal: a.journal });
    const up = next(first.delivery, "caughtUp");
    first.start();
    await up;
    await first.stop();
    for (const r of a.records.slice(2, 4)) await a.journal.append(r);
    // The second ledger lacks records 0–1: the journal is the same, only the ledger changed,
    // so replay the journal's records from 0 through the sink, then deliver the rest.
    const second = createSettlementClient({ ledger: other, journal: a.journal });
    for (const r of a.records.slice(0, 2)) await second.sink.submit(r);
    const up2 = next(second.delivery, "caughtUp");
    second.start();
    await up2;
    await second.stop();
    expect((await other.getRecordsHead(a.agreement.agreementId)).nextSeq).toBe(4);
    await a.journal.close();
    await a.ledger.close();
    await other.close();
  });

  it("behavior: delivers in batches of maxBatch; after a crash-like restart the resubmitted records are duplicates", async () => {
    const clock = scenarioClock("2025-01-03T00:00:00Z");
    const ledgerDir = await tempDir();
    const journalDir = await tempDir();
    const agreement = scenarioAgreement("client/batch");
    let ledger = embeddedLedger({ dir: ledgerDir, clock });
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    let journal = await openJournal<MeterRecord>({ dir: journalDir, codec: meterRecordCodec });
    for (const r of records) await journal.append(r);

    // First run: the ledger applies records 0–4 (one call), then the gateway dies before the
    // journal's acknowledgement is written.
    const crashed = createSettlementClient({ ledger, journal });
    expect(await crashed.sink.submitBatch!(records.slice(0, 5))).toEqual({
      ledgerRefs: records.slice(0, 5).map((r) => meterRecordDigest(r)),
    });
    await journal.close();
    await ledger.close();

    // Restart: both reopened from disk; every record is unacknowledged in the journal.
    ledger = embeddedLedger({ dir: ledgerDir, clock });
    journal = await openJournal<MeterRecord>({ dir: journalDir, codec: meterRecordCodec });
    expect(journal.state()).toMatchObject({ ackedThrough: -1, unacked: 8 });
    const calls: Array<{ seqs: number[]; accepted: number; duplicates: number }> = [];
    const observed: typeof ledger = Object.create(ledger);
    observed.submitRecords = async (p) => {
      const out = await ledger.submitRecords(p);
      calls.push({
        seqs: p.records.map((r) => r.seq),
        accepted: out.accepted,
        duplicates: out.duplicates,
      });
      return out;
    };
    const client = createSettlementClient({
      ledger: observed,
      journal,
      delivery: { maxBatch: 3 },
    });
    const delivered: number[] = [];
    client.delivery!.events$.subscribe((e) => {
      if (e.type === "delivered") delivered.push(e.seq);
    });
    const caughtUp = next(client.delivery, "caughtUp");
    client.start();
    await caughtUp;
    expect(calls).toEqual([
      { seqs: [0, 1, 2], accepted: 0, duplicates: 3 },
      { seqs: [3, 4, 5], accepted: 1, duplicates: 2 },
      { seqs: [6, 7], accepted: 2, duplicates: 0 },
    ]);
    expect(delivered).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect((await ledger.getRecordsHead(agreement.agreementId)).nextSeq).toBe(8);
    await client.stop();
    await journal.close();
    journal = await openJournal<MeterRecord>({ dir: journalDir, codec: meterRecordCodec });
    expect(journal.state()).toMatchObject({ ackedThrough: 7, unacked: 0 });
    await journal.close();
    await ledger.close();
  });

  it("behavior: a batch spanning two agreements goes to the ledger as one call per agreement", async () => {
    const a = await setup("client/batch-a");
    const bAgreement = scenarioAgreement("client/batch-b");
    const { recordDomain } = await openAgreementWithConsent(a.ledger, bAgreement);
    const bRecords = await scenarioRecords(bAgreement, recordDomain);
    const calls: string[][] = [];
    const observed: typeof a.ledger = Object.create(a.ledger);
    observed.submitRecords = async (p) => {
      calls.push(p.records.map((r) => `${r.agreementId === p.agreementId ? "" : "!"}${r.seq}`));
      return a.ledger.submitRecords(p);
    };
    const client = createSettlementClient({ ledger: observed });
    const batch = [...a.records.slice(0, 2), ...bRecords.slice(0, 3), a.records[2]!];
    const out = await client.sink.submitBatch!(batch);
    expect(out).toEqual({ ledgerRefs: batch.map((r) => meterRecordDigest(r)) });
    expect(calls).toEqual([["0", "1"], ["0", "1", "2"], ["2"]]);
    expect((await a.ledger.getRecordsHead(bAgreement.agreementId)).nextSeq).toBe(3);
    await a.journal.close();
    await a.ledger.close();
  });

  it("error: a record the ledger refuses for good halts the loop with retryable: false", async () => {
    const { ledger, agreement, records, journal, recordDomain } = await setup("client/conflict");
    await ledger.submitRecords({ agreementId: agreement.agreementId, records: [records[0]!] });
    const w = conformanceWallets();
    // The journal holds a different record 0 than the ledger: a conflict no retry fixes.
    const other = await signMeterRecord(
      unsignedScenarioRecord(
        agreement,
        recordDomain,
        { ...scenarioUsage[0]!, m3: "1" },
        0,
        records[0]!.prevHash,
      ),
      { signer: w.machineA },
    );
    await journal.append(other);
    const client = createSettlementClient({ ledger, journal });
    const failed = next(client.delivery, "failed");
    client.start();
    const event = await failed;
    expect(event.type === "failed" && (event.error as { code?: string }).code).toBe(
      "settlement.record.conflict",
    );
    expect(
      event.type === "failed" &&
        (event.error as { details: { retryable?: boolean } }).details.retryable,
    ).toBe(false);
    await client.stop();
    await journal.close();
    await ledger.close();
  });
});
