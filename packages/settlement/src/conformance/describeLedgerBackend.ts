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
import type { Agreement } from "../agreement.js";
import { invoiceToJson } from "../invoice.js";
import type { LedgerBackend, LedgerDomain } from "../ledger.js";
import { type LedgerErrorCode, ledgerErrorCodes } from "../ledgerErrors.js";
import { describeAdversaryCases } from "./adversaryCases.js";
import { describeEntitlementCases } from "./entitlementCases.js";
import { describeFeatureCases } from "./featureCases.js";
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
import { runLedgerScenario } from "./runLedgerScenario.js";

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
  /**
   * Whether the backend holds entitlement grants and checks feature records against them
   * (default true). The EVM backend does not yet (docs/evm.md): its feature records settle
   * as usage, and the suite checks that it refuses grants as `settlement.ledger.unsupported`.
   */
  readonly entitlements?: boolean;
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

    const suite = {
      name,
      clock,
      w,
      timeout,
      entitlements: options.entitlements ?? true,
      tokenOpt,
      fresh,
      rejects,
      ledger: () => ledger,
      domain: () => domain,
    };
    describeAdversaryCases(suite);
    describeFeatureCases(suite);
    describeEntitlementCases(suite);
  });
}

/** What the shared cases see of the running suite (the ledger once `beforeAll` made it). */
export interface ConformanceSuite {
  readonly name: string;
  readonly clock: ScenarioClock;
  readonly w: ReturnType<typeof conformanceWallets>;
  readonly timeout: number;
  /** `DescribeLedgerBackendOptions.entitlements`. */
  readonly entitlements: boolean;
  tokenOpt(): { token?: string };
  fresh(
    label: string,
    opts?: { overdraft?: "suspend" | "accrueDebt" },
  ): Promise<{ agreement: Agreement; id: string; records: MeterRecord[] }>;
  rejects(p: Promise<unknown>, code: LedgerErrorCode): Promise<void>;
  ledger(): LedgerBackend;
  domain(): LedgerDomain;
}
