import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type MeterRecord,
  meterRecordCodec,
  meterRecordDigest,
  openJournal,
  signMeterRecord,
} from "@maaskit/metering";
import { type HDNodeWallet, parseEther } from "ethers";
import { filter, firstValueFrom } from "rxjs";
import { expect, test } from "vitest";
import {
  conformanceWallets,
  keyFor,
  scenarioAgreement,
  scenarioClock,
  unsignedScenarioRecord,
} from "../src/conformance/ledgerScenario.js";
import { createSettlementClient } from "../src/createSettlementClient.js";
import { evmLedger } from "../src/evm.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import { startAnvil } from "./anvil.js";
import { deploy } from "./evmTestUtils.js";

const RECORDS = 100;

// Exact gas from receipts when the gateway's delivery loop (createSettlementClient over a
// journal) delivers to the EVM ledger: in batches (maxBatch 100) vs one record per call.
test(
  "behavior: the gateway delivering in batches spends less gas per record than one per call",
  { timeout: 180_000 },
  async () => {
    const anvil = await startAnvil({ args: ["--timestamp", String(Date.UTC(2024, 11, 1) / 1000)] });
    const dirs: string[] = [];
    try {
      const deployer = anvil.wallets[0] as HDNodeWallet;
      const w = conformanceWallets();
      const parties = [w.provider, w.customer, w.arbiter].map((x) => x.connect(anvil.provider));
      for (const p of parties) {
        await anvil.provider.send("anvil_setBalance", [
          p.address,
          `0x${parseEther("100").toString(16)}`,
        ]);
      }
      const token = await deploy(deployer, testTokenAbi, testTokenBytecode, "Euro Test", "EURT", 6);
      const ledger = await evmLedger({
        provider: anvil.provider,
        signer: deployer,
        parties,
        deploy: true,
        clock: scenarioClock("2025-01-03T00:00:00Z"),
      });
      const target = ledger.addresses.meterAgreements.toLowerCase();

      const deliver = async (label: string, maxBatch: number) => {
        const agreement = scenarioAgreement(label, {
          invoiced: true,
          token: await token.getAddress(),
        });
        const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
        // Quarter-hour windows (exact in binary), each signed with the key valid for it.
        const records: MeterRecord[] = [];
        let prevHash = `0x${"0".repeat(64)}`;
        for (let seq = 0; seq < RECORDS; seq++) {
          const spec = {
            fromHour: seq / 4,
            toHour: (seq + 1) / 4,
            m3: `${seq % 7}.${seq}`,
            pbtMin: 15,
            aptMin: 15,
          };
          const record = await signMeterRecord(
            unsignedScenarioRecord(agreement, recordDomain, spec, seq, prevHash),
            { signer: w[keyFor(spec)] },
          );
          records.push(record);
          prevHash = meterRecordDigest(record);
        }
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
        const toBlock = await anvil.provider.getBlockNumber();
        let gas = 0n;
        let txs = 0;
        for (let b = fromBlock; b <= toBlock; b++) {
          const block = await anvil.provider.getBlock(b);
          for (const hash of block?.transactions ?? []) {
            const receipt = await anvil.provider.getTransactionReceipt(hash);
            if (receipt?.to?.toLowerCase() !== target) continue;
            gas += receipt.gasUsed;
            txs += 1;
          }
        }
        expect((await ledger.getRecordsHead(agreement.agreementId)).nextSeq).toBe(RECORDS);
        return { gas: Number(gas), txs, perRecord: Number(gas) / RECORDS };
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
