import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  buildPeriodStatement,
  dec,
  GENESIS_HASH,
  type MeterRecord,
  meterRecordDigest,
  signMeterRecord,
  signPeriodStatement,
} from "@maaskit/metering";
import { keccak256, toUtf8Bytes } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signConditionCleared } from "../conditionCleared.js";
import { invoiceToJson } from "../invoice.js";
import type { LedgerBackend, LedgerDomain } from "../ledger.js";
import { type LedgerErrorCode, ledgerErrorCodes } from "../ledgerErrors.js";
import {
  conformanceWallets,
  type ScenarioClock,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
  scenarioUsage,
  snapshotText,
  unsignedScenarioRecord,
} from "./ledgerScenario.js";
import golden from "./ledgerScenario.vectors.json" with { type: "json" };
import { runLedgerScenario, scenarioWorkOrder } from "./runLedgerScenario.js";

/** What a conformance factory hands back: the ledger, and optionally its settlement token. */
export interface LedgerBackendUnderTest {
  readonly ledger: LedgerBackend;
  /** ERC-20 address to put in the scenario's currencies (dropped from the golden snapshot). */
  readonly token?: string;
  /** Called after the suite (stop nodes, remove directories). `ledger.close()` is called first. */
  readonly cleanup?: () => Promise<void>;
}

/** Builds a fresh, empty ledger that reads time from `clock`. */
export type LedgerBackendFactory = (context: {
  readonly clock: ScenarioClock;
}) => Promise<LedgerBackend | LedgerBackendUnderTest>;

/** Options of `describeLedgerBackend`. */
export interface DescribeLedgerBackendOptions {
  /** Per-test timeout in ms (default 60 000: chain backends mine per call). */
  readonly timeout?: number;
  /**
   * Writes the scenario snapshot as the new golden file instead of comparing (only from the
   * maaskit source tree; default: env `MAASKIT_UPDATE_GOLDEN=1`).
   */
  readonly updateGolden?: boolean;
}

/**
 * The ledger conformance suite: registers vitest tests that run one deterministic scenario
 * on the backend and compare its invoices, balances, results and events byte for byte with
 * the golden snapshot every backend shares (`ledgerScenario.vectors.json`), then feed it
 * every bad input and check the error code. Run it from any test file:
 *
 * @example
 * ```ts
 * import { describeLedgerBackend } from "@maaskit/settlement/conformance"
 * describeLedgerBackend("embedded", async ({ clock }) =>
 *   embeddedLedger({ dir: await mkdtemp(join(tmpdir(), "ledger-")), clock }))
 * ```
 */
export function describeLedgerBackend(
  name: string,
  factory: LedgerBackendFactory,
  options: DescribeLedgerBackendOptions = {},
): void {
  const timeout = options.timeout ?? 60_000;
  const update = options.updateGolden ?? process.env.MAASKIT_UPDATE_GOLDEN === "1";

  describe(`LedgerBackend conformance: ${name}`, () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    let under: LedgerBackendUnderTest;
    let ledger: LedgerBackend;
    let domain: LedgerDomain;
    const w = conformanceWallets();
    const tokenOpt = () => (under.token === undefined ? {} : { token: under.token });

    beforeAll(async () => {
      const made = await factory({ clock });
      under = "ledger" in made ? made : { ledger: made };
      ledger = under.ledger;
    }, timeout);

    afterAll(async () => {
      await ledger?.close();
      await under?.cleanup?.();
    }, timeout);

    /** Opens a fresh agreement for one case and returns it with its signed records. */
    async function fresh(label: string, opts: { overdraft?: "suspend" | "accrueDebt" } = {}) {
      clock.set("2025-01-01T00:00:00Z");
      const agreement = scenarioAgreement(`case/${name}/${label}`, { ...opts, ...tokenOpt() });
      const opened = await ledger.openAgreement(agreement);
      await ledger.acceptAgreement({ agreementId: agreement.agreementId, by: w.customer.address });
      domain = opened.recordDomain;
      const records = await scenarioRecords(agreement, domain);
      return { agreement, id: agreement.agreementId, records };
    }

    async function rejects(p: Promise<unknown>, code: LedgerErrorCode): Promise<void> {
      let error: unknown;
      try {
        await p;
      } catch (err) {
        error = err;
      }
      expect(error, `expected ${code}`).toBeDefined();
      expect((error as { code?: string }).code).toBe(code);
      expect(ledgerErrorCodes).toContain((error as { code: string }).code);
    }

    it(
      "default: the scenario gives the golden invoices, balances, results and events",
      async () => {
        const { snapshot } = await runLedgerScenario(ledger, clock, tokenOpt());
        const text = snapshotText(snapshot);
        if (update) {
          const path = fileURLToPath(new URL("./ledgerScenario.vectors.json", import.meta.url));
          writeFileSync(path, `${JSON.stringify(JSON.parse(text), null, 1)}\n`);
        }
        expect(JSON.parse(text)).toEqual(golden);
        expect(text).toBe(snapshotText(golden));
      },
      timeout,
    );

    it(
      "behavior: events$ replays the history, then follows new events",
      async () => {
        const before = await ledger.getEvents();
        const expected = scenarioAgreement(`case/${name}/events`).agreementId;
        const seen: unknown[] = [];
        let sub: { unsubscribe(): void } | undefined;
        const arrived = new Promise<void>((resolve) => {
          sub = ledger.events$.subscribe((e) => {
            seen.push(e);
            if (e.type === "AgreementOpened" && e.agreementId === expected) resolve();
          });
        });
        await fresh("events");
        await arrived;
        sub?.unsubscribe();
        expect(seen.slice(0, before.length)).toEqual(before);
        expect(seen[seen.length - 1]).toMatchObject({
          type: "AgreementOpened",
          agreementId: expected,
        });
      },
      timeout,
    );

    it(
      "behavior: any batching and order of submissions gives the same invoice; resubmitting changes nothing",
      async () => {
        const a = await fresh("batching/a");
        const b = await fresh("batching/b");
        clock.set("2025-01-02T00:05:00Z");
        await ledger.submitRecords({ agreementId: a.id, records: a.records.slice(0, 4) });
        // b: batches out of order, with repeats; a gap is refused and retried, as a delivery loop would.
        const batches = [[2, 3], [0], [1, 2], [0, 1, 2, 3], [3]].map((ix) =>
          ix.map((i) => b.records[i]!),
        );
        const pending = [...batches];
        for (let round = 0; pending.length > 0 && round < 20; round++) {
          const batch = pending.shift()!;
          try {
            await ledger.submitRecords({ agreementId: b.id, records: batch });
          } catch (err) {
            expect((err as { code?: string }).code).toBe("settlement.record.seqGap");
            pending.push(batch);
          }
        }
        const eventsBefore = (await ledger.getEvents()).length;
        const again = await ledger.submitRecords({
          agreementId: b.id,
          records: b.records.slice(0, 4),
        });
        expect(again.duplicates).toBe(4);
        expect((await ledger.getEvents()).length).toBe(eventsBefore);
        const ia = await ledger.settlePeriod({ agreementId: a.id, period: scenarioDay(0) });
        const ib = await ledger.settlePeriod({ agreementId: b.id, period: scenarioDay(0) });
        const strip = (j: ReturnType<typeof invoiceToJson>) => ({
          ...j,
          agreementId: "",
          records: null,
        });
        expect(strip(invoiceToJson(ib))).toEqual(strip(invoiceToJson(ia)));
        expect(ia.total.toFixed()).toBe(ib.total.toFixed());
      },
      timeout,
    );

    it(
      "error: a forged signature is settlement.record.badSignature",
      async () => {
        const { id, records } = await fresh("forged");
        const r0 = records[0]!;
        const other = records[1]!;
        const forged: MeterRecord = { ...r0, signature: other.signature };
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [forged] }),
          "settlement.record.badSignature",
        );
        const tampered: MeterRecord = { ...r0, quantity: { ...r0.quantity, value: dec("1") } };
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [tampered] }),
          "settlement.record.badSignature",
        );
        expect((await ledger.getRecordsHead(id)).nextSeq).toBe(0);
      },
      timeout,
    );

    it(
      "error: an unknown signer, or a rotated-out key, is settlement.record.unknownSigner",
      async () => {
        const { agreement, id, records } = await fresh("signer");
        const stranger = await signMeterRecord(
          unsignedScenarioRecord(agreement, domain, scenarioUsage[0]!, 0, GENESIS_HASH),
          { signer: w.stranger },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [stranger] }),
          "settlement.record.unknownSigner",
        );
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
        // Key A's validity ended at 13:00; the window ending 18:00 must be signed with B.
        const stale = await signMeterRecord(
          unsignedScenarioRecord(
            agreement,
            domain,
            scenarioUsage[2]!,
            2,
            meterRecordDigest(records[1]!),
          ),
          { signer: w.machineA },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [stale] }),
          "settlement.record.unknownSigner",
        );
        const ok = await ledger.submitRecords({ agreementId: id, records: [records[2]!] });
        expect(ok.accepted).toBe(1);
      },
      timeout,
    );

    it(
      "error: a replayed seq is a duplicate when identical, settlement.record.conflict when different",
      async () => {
        const { agreement, id, records } = await fresh("replay");
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
        const dup = await ledger.submitRecords({ agreementId: id, records: [records[1]!] });
        expect(dup.results).toEqual([
          { seq: 1, status: "duplicate", recordHash: meterRecordDigest(records[1]!) },
        ]);
        const different = await signMeterRecord(
          unsignedScenarioRecord(
            agreement,
            domain,
            { ...scenarioUsage[1]!, m3: "999" },
            1,
            meterRecordDigest(records[0]!),
          ),
          { signer: w.machineA },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [different] }),
          "settlement.record.conflict",
        );
        // A batch with a conflict applies nothing, not even its valid records.
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [records[2]!, different] }),
          "settlement.record.conflict",
        );
        expect((await ledger.getRecordsHead(id)).nextSeq).toBe(2);
      },
      timeout,
    );

    it(
      "error: a skipped seq is settlement.record.seqGap",
      async () => {
        const { id, records } = await fresh("gap");
        await ledger.submitRecords({ agreementId: id, records: [records[0]!] });
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [records[2]!] }),
          "settlement.record.seqGap",
        );
      },
      timeout,
    );

    it(
      "error: a wrong prevHash is settlement.record.brokenChain",
      async () => {
        const { agreement, id, records } = await fresh("chain");
        await ledger.submitRecords({ agreementId: id, records: [records[0]!] });
        const broken = await signMeterRecord(
          unsignedScenarioRecord(
            agreement,
            domain,
            scenarioUsage[1]!,
            1,
            keccak256(toUtf8Bytes("x")),
          ),
          { signer: w.machineA },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [broken] }),
          "settlement.record.brokenChain",
        );
      },
      timeout,
    );

    it(
      "error: an overlapping period is settlement.record.periodOverlap, a hole settlement.record.periodGap",
      async () => {
        const { agreement, id, records } = await fresh("period");
        await ledger.submitRecords({ agreementId: id, records: [records[0]!] });
        const prev = meterRecordDigest(records[0]!);
        const overlap = await signMeterRecord(
          unsignedScenarioRecord(agreement, domain, { ...scenarioUsage[1]!, fromHour: 5 }, 1, prev),
          { signer: w.machineA },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [overlap] }),
          "settlement.record.periodOverlap",
        );
        const hole = await signMeterRecord(
          unsignedScenarioRecord(agreement, domain, { ...scenarioUsage[1]!, fromHour: 7 }, 1, prev),
          { signer: w.machineA },
        );
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [hole] }),
          "settlement.record.periodGap",
        );
      },
      timeout,
    );

    it(
      "error: a record for another agreement is settlement.record.wrongAgreement",
      async () => {
        const a = await fresh("other/a");
        const b = await fresh("other/b");
        await rejects(
          ledger.submitRecords({ agreementId: a.id, records: [b.records[0]!] }),
          "settlement.record.wrongAgreement",
        );
        await rejects(
          ledger.submitRecords({ agreementId: "0x" + "ab".repeat(32), records: [b.records[0]!] }),
          "settlement.agreement.notFound",
        );
      },
      timeout,
    );

    it(
      "error: settling a settled period is settlement.period.alreadySettled; unfinished or misaligned periods are refused",
      async () => {
        const { id, records } = await fresh("settle");
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 3) });
        clock.set("2025-01-02T00:05:00Z");
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) }),
          "settlement.period.incomplete",
        );
        await ledger.submitRecords({ agreementId: id, records: [records[3]!] });
        await rejects(
          ledger.settlePeriod({
            agreementId: id,
            period: {
              start: new Date("2025-01-01T06:00:00Z"),
              end: new Date("2025-01-02T06:00:00Z"),
            },
          }),
          "settlement.period.invalid",
        );
        await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) });
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) }),
          "settlement.period.alreadySettled",
        );
        const st = await signPeriodStatement(buildPeriodStatement(records.slice(0, 4)), {
          signer: w.machineB,
        });
        await rejects(ledger.settleStatement(st), "settlement.period.alreadySettled");
      },
      timeout,
    );

    it(
      "error: a statement signed by a stranger, or not continuing the chain, is refused",
      async () => {
        const { id, records } = await fresh("statement");
        clock.set("2025-01-02T00:05:00Z");
        const byStranger = await signPeriodStatement(buildPeriodStatement(records.slice(0, 4)), {
          signer: w.stranger,
        });
        await rejects(ledger.settleStatement(byStranger), "settlement.record.unknownSigner");
        // Day 1 while day 0 is unsettled: the calendar settles day 0 next, whoever relays.
        const skipping = await signPeriodStatement(buildPeriodStatement(records.slice(4, 8)), {
          signer: w.machineB,
        });
        await rejects(ledger.settleStatement(skipping), "settlement.period.notNext");
        expect((await ledger.getInvoices(id)).length).toBe(0);
      },
      timeout,
    );

    it(
      "adversary: nothing before both parties consent; strangers can neither offer nor accept",
      async () => {
        clock.set("2025-01-01T00:00:00Z");
        const agreement = scenarioAgreement(`case/${name}/consent`, tokenOpt());
        const id = agreement.agreementId;
        await rejects(
          ledger.openAgreement(agreement, { by: w.stranger.address }),
          "settlement.agreement.unauthorized",
        );
        const offered = await ledger.openAgreement(agreement, { by: w.provider.address });
        expect(offered.status).toBe("offered");
        expect((await ledger.getAgreement(id)).status).toBe("pending");
        const records = await scenarioRecords(agreement, offered.recordDomain);
        clock.set("2025-01-02T00:05:00Z");
        await rejects(
          ledger.submitRecords({ agreementId: id, records: records.slice(0, 1) }),
          "settlement.agreement.notActive",
        );
        await rejects(
          ledger.deposit({ agreementId: id, amount: dec("1"), by: w.customer.address }),
          "settlement.agreement.notActive",
        );
        await rejects(
          ledger.acceptAgreement({ agreementId: id, by: w.provider.address }),
          "settlement.agreement.unauthorized",
        );
        await rejects(
          ledger.acceptAgreement({ agreementId: id, by: w.stranger.address }),
          "settlement.agreement.unauthorized",
        );
        expect(
          (await ledger.acceptAgreement({ agreementId: id, by: w.customer.address })).status,
        ).toBe("active");
        expect(
          (await ledger.submitRecords({ agreementId: id, records: records.slice(0, 1) })).accepted,
        ).toBe(1);
      },
      timeout,
    );

    it(
      "adversary: periods settle once each, in calendar order; empty batches are refused",
      async () => {
        const { id, records } = await fresh("calendar");
        clock.set("2025-01-03T00:05:00Z");
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [] }),
          "settlement.record.invalid",
        );
        await ledger.submitRecords({ agreementId: id, records });
        // Day 1 before day 0 (the customer skipping a period), a sub-period, a future day.
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: scenarioDay(1) }),
          "settlement.period.notNext",
        );
        const day0 = scenarioDay(0);
        await rejects(
          ledger.settlePeriod({
            agreementId: id,
            period: { start: day0.start, end: new Date(day0.start.getTime() + 1) },
          }),
          "settlement.period.invalid",
        );
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: scenarioDay(2) }),
          "settlement.period.notNext",
        );
        await ledger.settlePeriod({ agreementId: id, period: day0 });
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: day0 }),
          "settlement.period.alreadySettled",
        );
        await ledger.settlePeriod({ agreementId: id, period: scenarioDay(1) });
        await rejects(
          ledger.settlePeriod({ agreementId: id, period: scenarioDay(2) }),
          "settlement.period.incomplete",
        );
        const invoices = await ledger.getInvoices(id);
        expect(invoices.map((i) => i.period.start.toISOString())).toEqual([
          day0.start.toISOString(),
          scenarioDay(1).start.toISOString(),
        ]);
        // Every accepted record is in exactly one settled period.
        const settled = invoices.reduce((n, i) => n + (i.records?.count ?? 0), 0);
        expect(settled).toBe(records.length);
      },
      timeout,
    );

    it(
      "adversary: a revoked key signs nothing more, whatever its timestamps; strangers cannot revoke",
      async () => {
        const { id, records } = await fresh("revoked");
        clock.set("2025-01-02T00:05:00Z");
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 2) });
        const next = records[2]!;
        expect(next.signer.toLowerCase()).toBe(w.machineB.address.toLowerCase());
        await rejects(
          ledger.revokeSigner({
            agreementId: id,
            signer: w.machineB.address,
            by: w.stranger.address,
          }),
          "settlement.agreement.unauthorized",
        );
        await ledger.revokeSigner({
          agreementId: id,
          signer: w.machineB.address,
          by: w.customer.address,
        });
        await rejects(
          ledger.revokeSigner({
            agreementId: id,
            signer: w.machineB.address,
            by: w.provider.address,
          }),
          "settlement.agreement.invalid",
        );
        // Record 2 was signed inside key B's window; after the revocation it is refused all the same.
        await rejects(
          ledger.submitRecords({ agreementId: id, records: [next] }),
          "settlement.record.unknownSigner",
        );
        expect((await ledger.getRecordsHead(id)).nextSeq).toBe(2);
      },
      timeout,
    );

    it(
      "adversary: a stranger's deposit reference does not block the customer's",
      async () => {
        const { id } = await fresh("references");
        clock.set("2025-01-01T01:00:00Z");
        const squat = await ledger.deposit({
          agreementId: id,
          amount: dec("0.000001"),
          by: w.stranger.address,
          reference: "initial-deposit",
        });
        expect(squat.status).toBe("applied");
        const real = await ledger.deposit({
          agreementId: id,
          amount: dec("20"),
          by: w.customer.address,
          reference: "initial-deposit",
        });
        expect(real.status).toBe("applied");
        expect(real.balance.available.toFixed()).toBe("20.000001");
        const again = await ledger.deposit({
          agreementId: id,
          amount: dec("20"),
          by: w.customer.address,
          reference: "initial-deposit",
        });
        expect(again.status).toBe("duplicate");
      },
      timeout,
    );

    it(
      "behavior: an overdraft suspends (prepaid, suspend) until the due amount is paid",
      async () => {
        const { id, records } = await fresh("overdraft/suspend");
        await ledger.deposit({ agreementId: id, amount: dec("1"), by: w.customer.address });
        clock.set("2025-01-02T00:05:00Z");
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 4) });
        const invoice = await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) });
        const balance = await ledger.getBalance(id);
        expect(balance.available.toFixed()).toBe("0");
        expect(balance.due.toFixed()).toBe(invoice.total.minus(1).toFixed());
        expect((await ledger.getAgreement(id)).status).toBe("suspended");
        await ledger.deposit({ agreementId: id, amount: balance.due, by: w.customer.address });
        expect((await ledger.getAgreement(id)).status).toBe("active");
        expect((await ledger.getBalance(id)).paidToProvider.toFixed()).toBe(
          invoice.total.toFixed(),
        );
      },
      timeout,
    );

    it(
      "behavior: an overdraft accrues debt (prepaid, accrueDebt) and the agreement stays active",
      async () => {
        const { id, records } = await fresh("overdraft/debt", { overdraft: "accrueDebt" });
        clock.set("2025-01-02T00:05:00Z");
        await ledger.submitRecords({ agreementId: id, records: records.slice(0, 4) });
        const invoice = await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) });
        expect((await ledger.getBalance(id)).due.toFixed()).toBe(invoice.total.toFixed());
        expect((await ledger.getAgreement(id)).status).toBe("active");
        const events = (await ledger.getEvents()).filter(
          (e) => "agreementId" in e && e.agreementId === id,
        );
        expect(events.map((e) => e.type)).toContain("Overdraft");
      },
      timeout,
    );

    it(
      "error: funds — withdrawing more than the balance, or by another party, or a zero amount",
      async () => {
        const { id } = await fresh("funds");
        await ledger.deposit({ agreementId: id, amount: dec("5"), by: w.customer.address });
        await rejects(
          ledger.withdraw({ agreementId: id, amount: dec("5.000001"), by: w.customer.address }),
          "settlement.funds.insufficient",
        );
        await rejects(
          ledger.withdraw({ agreementId: id, amount: dec("1"), by: w.provider.address }),
          "settlement.funds.unauthorized",
        );
        await rejects(
          ledger.deposit({ agreementId: id, amount: dec("0"), by: w.customer.address }),
          "settlement.funds.invalidAmount",
        );
        await rejects(
          ledger.deposit({ agreementId: id, amount: dec("0.0000001"), by: w.customer.address }),
          "settlement.funds.invalidAmount",
        );
        expect((await ledger.getBalance(id)).available.toFixed()).toBe("5");
      },
      timeout,
    );

    it(
      "error: work orders — wrong party, wrong state, deadlines, forged attestation",
      async () => {
        clock.set("2025-01-02T10:00:00Z");
        const wo = scenarioWorkOrder(`case/${name}/wo`, tokenOpt());
        const id = wo.workOrderId;
        await ledger.openWorkOrder(wo);
        await rejects(
          ledger.openWorkOrder({ ...wo, amount: dec("1") }),
          "settlement.workOrder.conflict",
        );
        await rejects(
          ledger.acceptWorkOrder({ workOrderId: id, by: w.provider.address }),
          "settlement.workOrder.invalidState",
        );
        await rejects(
          ledger.fundWorkOrder({ workOrderId: id, by: w.provider.address }),
          "settlement.workOrder.unauthorized",
        );
        await ledger.fundWorkOrder({ workOrderId: id, by: w.customer.address });
        await rejects(
          ledger.fundWorkOrder({ workOrderId: id, by: w.customer.address }),
          "settlement.workOrder.invalidState",
        );
        await rejects(
          ledger.expireWorkOrder({ workOrderId: id, by: w.customer.address }),
          "settlement.workOrder.deadlineNotReached",
        );
        await rejects(
          ledger.acceptWorkOrder({ workOrderId: id, by: w.customer.address }),
          "settlement.workOrder.unauthorized",
        );
        await ledger.acceptWorkOrder({ workOrderId: id, by: w.provider.address });
        await rejects(
          ledger.completeWorkOrder({
            workOrderId: id,
            proofHash: GENESIS_HASH,
            by: w.provider.address,
          }),
          "settlement.workOrder.badProof",
        );
        await ledger.completeWorkOrder({
          workOrderId: id,
          proofHash: keccak256(toUtf8Bytes("report")),
          by: w.provider.address,
        });
        const cleared = {
          workOrderId: id,
          conditionHash: wo.conditionHash,
          evidenceHash: keccak256(toUtf8Bytes("evidence")),
          clearedAt: new Date("2025-01-02T11:00:00Z"),
        };
        const forged = await signConditionCleared(w.stranger, domain, cleared);
        await rejects(
          ledger.confirmWorkOrder({
            workOrderId: id,
            attestation: { ...cleared, signature: forged },
          }),
          "settlement.workOrder.badProof",
        );
        await rejects(
          ledger.confirmWorkOrder({ workOrderId: id, by: w.provider.address }),
          "settlement.workOrder.unauthorized",
        );
        await rejects(
          ledger.resolveDispute({ workOrderId: id, toProvider: dec("1"), by: w.arbiter.address }),
          "settlement.workOrder.invalidState",
        );
        const done = await ledger.confirmWorkOrder({ workOrderId: id, by: w.customer.address });
        expect(done.status).toBe("released");
        await rejects(ledger.getWorkOrder(`0x${"cd".repeat(32)}`), "settlement.workOrder.notFound");

        const late = scenarioWorkOrder(`case/${name}/wo-late`, tokenOpt());
        await ledger.openWorkOrder(late);
        clock.set("2025-01-03T12:00:01Z");
        await rejects(
          ledger.fundWorkOrder({ workOrderId: late.workOrderId, by: w.customer.address }),
          "settlement.workOrder.deadlinePassed",
        );
        const expired = await ledger.expireWorkOrder({
          workOrderId: late.workOrderId,
          by: w.arbiter.address,
        });
        expect(expired.status).toBe("cancelled");
      },
      timeout,
    );
  });
}
