import { writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MeterRecord, meterRecordCodec, openJournal } from "@maaskit/metering";
import { VirtualTimeScheduler } from "rxjs";
import { expect, test } from "vitest";
import { createSettlementClient } from "../src/createSettlementClient.js";
import type { LedgerBackend } from "../src/ledger.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import {
  gasSpentSince,
  signedQuarterHourRecords,
  startDeliveryLedger,
} from "./deliveryGasFixture.js";

// Exact gas from receipts for a LIVE gateway: records reach the journal one at a time, one
// every 15 minutes (virtual time), while createSettlementClient's delivery loop runs with
// live batching (maxBatchDelayMs 24 h: in effect until the agreement's daily billing period
// ends, since nothing is held past it) — against the same loop delivering each record as it arrives (maxBatchDelayMs 0,
// the gateway before live batching). With GAS_REPORT=1 (root `pnpm gas`) the figures are
// written to bench/gas-live.json, read by `pnpm bench`. Records are plain (no OEE extras),
// like the gas report's; records with extras cost more calldata (see bench/README.md).

// Two billing days and a quarter hour held: the first record of an agreement is sent alone
// (the client reads the agreement's periods on first use), then each day in one call.
const HELD_RECORDS = 193;
// One record per call: 100 are enough for a per-record figure (each is its own transaction).
const ARRIVED_RECORDS = 100;
const QUARTER_HOUR = 15 * 60_000;
const HOLD_MS = 24 * 3_600_000;
const TARGET_LIVE = 15_000;

test(
  `behavior: a live gateway (one record per 15 min) with maxBatchDelayMs 24 h (held to the billing day's end) spends ≤ ${TARGET_LIVE.toLocaleString("en-US")} gas per record`,
  { timeout: 300_000 },
  async () => {
    const { anvil, ledger, target, agreementFor } = await startDeliveryLedger();
    const dirs: string[] = [];
    try {
      const deliverLive = async (label: string, maxBatchDelayMs: number, n: number) => {
        const agreement = agreementFor(label);
        const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
        // Plain records (no OEE extras), as the gas report's and the 65,078 figure.
        const records = await signedQuarterHourRecords(agreement, recordDomain, n, {
          plain: true,
        });
        const dir = await mkdtemp(join(tmpdir(), "maaskit-delivery-live-"));
        dirs.push(dir);
        const journal = await openJournal<MeterRecord>({ dir, codec: meterRecordCodec });
        // Count the records handed to the ledger and still in flight, to know when the loop
        // has nothing in progress before virtual time moves on.
        let inFlight = 0;
        let submitted = 0;
        const counting = new Proxy(ledger, {
          get(t, k) {
            if (k === "submitRecords") {
              return async (a: Parameters<LedgerBackend["submitRecords"]>[0]) => {
                inFlight++;
                submitted += a.records.length;
                try {
                  return await t.submitRecords(a);
                } finally {
                  inFlight--;
                }
              };
            }
            const v = Reflect.get(t, k);
            return typeof v === "function" ? v.bind(t) : v;
          },
        }) as LedgerBackend;
        const scheduler = new VirtualTimeScheduler(undefined, 0);
        const client = createSettlementClient({
          ledger: counting,
          journal,
          delivery: { maxBatch: 100, maxBatchDelayMs, backoff: { initialMs: 10 }, scheduler },
        });
        let acked = 0;
        const failures: unknown[] = [];
        client.delivery!.events$.subscribe((e) => {
          if (e.type === "delivered") acked++;
          if (e.type === "failed" || e.type === "retrying") failures.push(e.error);
        });
        const quiet = async () => {
          for (let still = 0; still < 20; ) {
            await new Promise((r) => setTimeout(r, 5));
            still = inFlight === 0 && acked === submitted ? still + 1 : 0;
          }
        };
        const fromBlock = (await anvil.provider.getBlockNumber()) + 1;
        client.start();
        for (let seq = 0; seq < n; seq++) {
          // The window [seq, seq + 1) quarter hours closes: time moves to its end, then the
          // gateway journals its record.
          scheduler.maxFrames = (seq + 1) * QUARTER_HOUR;
          scheduler.flush();
          await quiet();
          await journal.append(records[seq]!);
          await quiet();
        }
        await client.stop(); // sends what is held
        expect(failures).toEqual([]);
        expect(journal.state()).toMatchObject({ ackedThrough: n - 1, unacked: 0 });
        await journal.close();
        const { gas, txs } = await gasSpentSince(anvil, target, fromBlock);
        expect((await ledger.getRecordsHead(agreement.agreementId)).nextSeq).toBe(n);
        return { gas, txs, perRecord: Math.round(gas / n) };
      };

      const asArrived = await deliverLive("gas/live-now", 0, ARRIVED_RECORDS);
      const held = await deliverLive("gas/live-held", HOLD_MS, HELD_RECORDS);
      console.log(
        `live delivery gas, one record per 15 min: ${ARRIVED_RECORDS} as they arrive ${asArrived.gas} gas in ${asArrived.txs} txs (${asArrived.perRecord}/record); ${HELD_RECORDS} held up to 24 h ${held.gas} gas in ${held.txs} txs (${held.perRecord}/record)`,
      );
      expect(asArrived.txs).toBe(ARRIVED_RECORDS);
      // Batches: the first record alone (the client has not read the agreement's periods yet),
      // then the rest of each day at its last record, the last record held until stop: 4
      // calls, which the EVM ledger may split into a few more transactions.
      expect(held.txs).toBeLessThanOrEqual(8);
      expect(held.perRecord).toBeLessThanOrEqual(TARGET_LIVE);
      if (process.env.GAS_REPORT === "1") {
        const figures = [
          {
            figure: `records, live gateway (plain records, one per 15 min, maxBatchDelayMs 24 h = to the daily period's end, ${HELD_RECORDS} records in ${held.txs} transactions)`,
            gas: held.gas,
            perRecord: held.perRecord,
          },
          {
            figure: `records, live gateway (plain records) delivering each record as it arrives (maxBatchDelayMs 0, ${asArrived.txs} transactions)`,
            gas: asArrived.gas,
            perRecord: asArrived.perRecord,
          },
        ];
        const file = join(import.meta.dirname, "..", "..", "..", "bench", "gas-live.json");
        writeFileSync(
          file,
          `${JSON.stringify({ generatedBy: "pnpm gas (packages/settlement/test/deliveryGasLive.test.ts)", target: TARGET_LIVE, figures }, null, 2)}\n`,
        );
      }
      await ledger.close();
    } finally {
      await anvil.stop();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  },
);
