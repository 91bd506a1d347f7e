import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MeterRecord, meterRecordCodec, openJournal } from "@maaskit/metering";
import { filter, firstValueFrom } from "rxjs";
import { expect, test } from "vitest";
import { createSettlementClient } from "../src/createSettlementClient.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import {
  gasSpentSince,
  signedQuarterHourRecords,
  startDeliveryLedger,
} from "./deliveryGasFixture.js";

const RECORDS = 100;

// Exact gas from receipts when the gateway's delivery loop (createSettlementClient over a
// journal) delivers to the EVM ledger: in batches (maxBatch 100) vs one record per call.
test(
  "behavior: the gateway delivering in batches spends less gas per record than one per call",
  { timeout: 180_000 },
  async () => {
    const { anvil, ledger, target, agreementFor } = await startDeliveryLedger();
    const dirs: string[] = [];
    try {
      const deliver = async (label: string, maxBatch: number) => {
        const agreement = agreementFor(label);
        const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
        // Quarter-hour windows (exact in binary), each signed with the key valid for it.
        const records = await signedQuarterHourRecords(agreement, recordDomain, RECORDS);
        const dir = await mkdtemp(join(tmpdir(), "maaskit-delivery-gas-"));
        dirs.push(dir);
        const journal = await openJournal<MeterRecord>({ dir, codec: meterRecordCodec });
        for (const r of records) await journal.append(r);
        const client = createSettlementClient({
          ledger,
          journal,
          delivery: { maxBatch, backoff: { initialMs: 10 } },
        });
        const done = firstValueFrom(
          client.delivery!.events$.pipe(
            filter((e) => e.type === "caughtUp" || e.type === "failed"),
          ),
        );
        const fromBlock = (await anvil.provider.getBlockNumber()) + 1;
        client.start();
        expect((await done).type).toBe("caughtUp");
        await client.stop();
        expect(journal.state()).toMatchObject({ ackedThrough: RECORDS - 1, unacked: 0 });
        await journal.close();
        const { gas, txs } = await gasSpentSince(anvil, target, fromBlock);
        expect((await ledger.getRecordsHead(agreement.agreementId)).nextSeq).toBe(RECORDS);
        return { gas, txs, perRecord: gas / RECORDS };
      };

      const single = await deliver("gas/single", 1);
      const batched = await deliver("gas/batched", 100);
      console.log(
        `delivery gas, ${RECORDS} records: one per call ${single.gas} gas in ${single.txs} txs ` +
          `(${single.perRecord}/record); maxBatch 100 ${batched.gas} gas in ${batched.txs} txs ` +
          `(${batched.perRecord}/record)`,
      );
      expect(single.txs).toBe(RECORDS);
      expect(batched.txs).toBeLessThan(single.txs);
      expect(batched.perRecord).toBeLessThan(single.perRecord);
      await ledger.close();
    } finally {
      await anvil.stop();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  },
);
