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
  const { recordDomain } = await ledger.openAgreement(agreement);
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
    await other.openAgreement(a.agreement);
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
