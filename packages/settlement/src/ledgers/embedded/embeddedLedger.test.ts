import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import type { MeterRecord } from "@maaskit/metering";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agreementToJson, parseAgreement } from "../../agreement.js";
import { describeLedgerBackend } from "../../conformance/describeLedgerBackend.js";
import {
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
} from "../../conformance/ledgerScenario.js";
import { runLedgerScenario } from "../../conformance/runLedgerScenario.js";
import { invoiceToJson } from "../../invoice.js";
import { embeddedLedger } from "./embeddedLedger.js";

describeLedgerBackend("embedded", async ({ clock }) => {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
  return {
    ledger: embeddedLedger({ dir, clock }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe("embeddedLedger", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  let dir: string;
  let ledger: ReturnType<typeof embeddedLedger>;
  let runs = 0;
  let reference: unknown;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
    ledger = embeddedLedger({ dir, clock });
    reference = await settleBoth("reference", async (id, records) => {
      await ledger.submitRecords({ agreementId: id, records });
    });
  });
  afterAll(async () => {
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens a fresh agreement, delivers its records with `deliver`, settles both days. */
  async function settleBoth(
    label: string,
    deliver: (id: string, records: MeterRecord[]) => Promise<void>,
  ) {
    clock.set("2025-01-01T00:00:00Z");
    const agreement = scenarioAgreement(`prop/${label}`);
    const id = agreement.agreementId;
    const { recordDomain } = await ledger.openAgreement(agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    await deliver(id, records);
    clock.set("2025-01-03T00:00:00Z");
    const invoices = [
      await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) }),
      await ledger.settlePeriod({ agreementId: id, period: scenarioDay(1) }),
    ];
    // The agreement id and the chain head differ per agreement; everything else must not.
    return invoices.map((i) => ({ ...invoiceToJson(i), agreementId: "", records: null }));
  }

  // Contiguous batches (any cut points) in any order, plus repeated arbitrary subsets.
  const deliveries = fc
    .tuple(
      fc.subarray([1, 2, 3, 4, 5, 6, 7]),
      fc.array(fc.subarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 1 }), { maxLength: 4 }),
    )
    .chain(([cuts, extra]) => {
      const bounds = [0, ...cuts, 8];
      const batches = bounds.slice(1).map((end, i) => range(bounds[i]!, end));
      return fc.shuffledSubarray([...batches, ...extra], {
        minLength: batches.length + extra.length,
      });
    });

  test.prop([deliveries], { numRuns: 25 })(
    "behavior: any order and batching of submissions (with repeats) gives the same invoices",
    async (batches) => {
      const invoices = await settleBoth(`split/${runs++}`, async (id, records) => {
        // Deliver like an at-least-once loop: a batch refused for a gap is tried again later.
        const pending = batches.map((ix) => [...ix].sort((a, b) => a - b).map((i) => records[i]!));
        for (let guard = 0; pending.length > 0 && guard < 200; guard++) {
          const batch = pending.shift()!;
          try {
            await ledger.submitRecords({ agreementId: id, records: batch });
          } catch (err) {
            expect((err as { code?: string }).code).toBe("settlement.record.seqGap");
            pending.push(batch);
          }
        }
        expect(pending).toEqual([]);
      });
      expect(invoices).toEqual(reference);
    },
  );

  test.prop([fc.subarray([0, 1, 2, 3, 4, 5, 6, 7], { minLength: 1 })], { numRuns: 25 })(
    "behavior: resubmitting any records changes nothing",
    async (ix) => {
      clock.set("2025-01-03T00:00:00Z");
      const agreement = scenarioAgreement(`prop/resubmit/${runs++}`);
      const id = agreement.agreementId;
      const { recordDomain } = await ledger.openAgreement(agreement);
      const records = await scenarioRecords(agreement, recordDomain);
      await ledger.submitRecords({ agreementId: id, records });
      const before = {
        events: await ledger.getEvents(),
        head: await ledger.getRecordsHead(id),
        balance: await ledger.getBalance(id),
      };
      const out = await ledger.submitRecords({
        agreementId: id,
        records: ix.map((i) => records[i]!),
      });
      expect(out.accepted).toBe(0);
      expect(out.results.every((r) => r.status === "duplicate")).toBe(true);
      expect({
        events: await ledger.getEvents(),
        head: await ledger.getRecordsHead(id),
        balance: await ledger.getBalance(id),
      }).toEqual(before);
    },
  );

  it("behavior: reopening replays the log to the same state, idempotency marks included", async () => {
    const d = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
    const c = scenarioClock("2025-01-01T00:00:00Z");
    const first = embeddedLedger({ dir: d, clock: c });
    await runLedgerScenario(first, c);
    const id = scenarioAgreement("scenario/a1").agreementId;
    const read = async (l: typeof first) => ({
      events: await l.getEvents(),
      invoices: (await l.getInvoices(id)).map(invoiceToJson),
      balance: await l.getBalance(id),
      head: await l.getRecordsHead(id),
      agreement: await l.getAgreement(id),
    });
    const before = await read(first);
    await first.close();
    const reopened = embeddedLedger({ dir: d, clock: c });
    expect(await read(reopened)).toEqual(before);
    const customer = before.events.find((e) => e.type === "AgreementOpened")!;
    const dup = await reopened.deposit({
      agreementId: id,
      amount: before.balance.available,
      by: "customer" in customer ? customer.customer : "",
      reference: "dep-1",
    });
    expect(dup.status).toBe("duplicate");
    expect((await reopened.getEvents()).length).toBe(before.events.length);
    await reopened.close();
    await rm(d, { recursive: true, force: true });
  });

  it("error: a second writer on the same directory is settlement.ledger.locked", async () => {
    const other = embeddedLedger({ dir });
    await expect(other.ready).rejects.toMatchObject({ code: "settlement.ledger.locked" });
    await expect(other.getEvents()).rejects.toMatchObject({ code: "settlement.ledger.locked" });
  });

  it("error: a record above the agreement's capacity is settlement.record.invalid and changes nothing", async () => {
    const d = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
    const l = embeddedLedger({ dir: d });
    // 1 m³/min: at most 360 m³ in a 6-hour record; the second scenario record claims 412.25.
    const agreement = parseAgreement({
      ...agreementToJson(scenarioAgreement("capacity")),
      capacity: { value: "1", per: "min" },
    });
    const { recordDomain } = await l.openAgreement(agreement);
    const records = await scenarioRecords(agreement, recordDomain);
    await l.submitRecords({ agreementId: agreement.agreementId, records: [records[0]!] });
    await expect(
      l.submitRecords({ agreementId: agreement.agreementId, records: [records[1]!] }),
    ).rejects.toMatchObject({
      code: "settlement.record.invalid",
      details: { reasons: ["metering.record.exceedsCapacity"], quantity: "412.25" },
    });
    expect((await l.getRecordsHead(agreement.agreementId)).nextSeq).toBe(1);
    await l.close();
    await rm(d, { recursive: true, force: true });
  });

  it("error: garbage instead of records is settlement.record.invalid and changes nothing", async () => {
    const d = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
    const l = embeddedLedger({ dir: d });
    const agreement = scenarioAgreement("garbage");
    await l.openAgreement(agreement);
    for (const records of [[null], ["x"], [{}], [[]], "nope"]) {
      await expect(
        l.submitRecords({ agreementId: agreement.agreementId, records: records as never }),
      ).rejects.toMatchObject({ code: "settlement.record.invalid" });
    }
    expect((await l.getRecordsHead(agreement.agreementId)).nextSeq).toBe(0);
    await l.close();
    await rm(d, { recursive: true, force: true });
  });

  it("error: calls after close are settlement.ledger.closed", async () => {
    const d = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
    const l = embeddedLedger({ dir: d });
    await l.close();
    await expect(l.getEvents()).rejects.toMatchObject({ code: "settlement.ledger.closed" });
    await expect(l.openAgreement(scenarioAgreement("closed"))).rejects.toMatchObject({
      code: "settlement.ledger.closed",
    });
    await rm(d, { recursive: true, force: true });
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
