// The shared setup of the delivery gas tests (deliveryGas.test.ts, deliveryGasLive.test.ts):
// an anvil at a fixed time with the conformance parties funded, a test token and a deployed
// EVM ledger; quarter-hour scenario records signed with the key valid for their window; and
// the exact gas the ledger's meter-agreements contract spent over a range of blocks.
import { type MeterRecord, meterRecordDigest, signMeterRecord } from "@maaskit/metering";
import type { Agreement } from "../src/agreement.js";
import {
  conformanceWallets,
  keyFor,
  scenarioAgreement,
  scenarioClock,
  unsignedScenarioRecord,
} from "../src/conformance/ledgerScenario.js";
import { evmLedger } from "../src/evm.js";
import type { LedgerDomain } from "../src/ledger.js";
import type { Anvil } from "./anvil.js";
import { startConformanceChain } from "./conformanceChain.js";

/** A running anvil with a deployed EVM ledger and test token; `stop()` the anvil when done. */
export async function startDeliveryLedger() {
  const { anvil, deployer, parties, token } = await startConformanceChain(
    ["provider", "customer", "arbiter"],
    {},
  );
  try {
    const wallets = conformanceWallets();
    const tokenAddress = await token.getAddress();
    const ledger = await evmLedger({
      provider: anvil.provider,
      signer: deployer,
      parties,
      deploy: true,
      clock: scenarioClock("2025-01-03T00:00:00Z"),
    });
    const target = ledger.addresses.meterAgreements.toLowerCase();
    /** An invoiced scenario agreement in the test token. */
    const agreementFor = (label: string) =>
      scenarioAgreement(label, { invoiced: true, token: tokenAddress });
    return { anvil, wallets, ledger, target, agreementFor };
  } catch (error) {
    await anvil.stop();
    throw error;
  }
}

/**
 * `n` chained quarter-hour scenario records from hour 0, each signed with the key valid for
 * its window; `plain` drops the OEE extras (as the gas report's records).
 */
export async function signedQuarterHourRecords(
  agreement: Agreement,
  domain: LedgerDomain,
  n: number,
  options: { plain?: boolean } = {},
): Promise<MeterRecord[]> {
  const wallets = conformanceWallets();
  const records: MeterRecord[] = [];
  let prevHash = `0x${"0".repeat(64)}`;
  for (let seq = 0; seq < n; seq++) {
    const spec = {
      fromHour: seq / 4,
      toHour: (seq + 1) / 4,
      m3: `${seq % 7}.${seq}`,
      pbtMin: 15,
      aptMin: 15,
    };
    const unsigned = unsignedScenarioRecord(agreement, domain, spec, seq, prevHash);
    const { extras: _extras, ...plain } = unsigned;
    const record = await signMeterRecord(options.plain ? plain : unsigned, {
      signer: wallets[keyFor(spec)],
    });
    records.push(record);
    prevHash = meterRecordDigest(record);
  }
  return records;
}

/** The exact gas (from receipts) of the transactions to `target` in blocks `fromBlock`…head. */
export async function gasSpentSince(
  anvil: Anvil,
  target: string,
  fromBlock: number,
): Promise<{ gas: number; txs: number }> {
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
  return { gas: Number(gas), txs };
}
