import { type MeterRecord, meterRecordToJson } from "@maaskit/metering";
import type { Contract, ContractRunner } from "ethers";
import type { Agreement } from "../../agreement.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { EvmCallNote } from "./evmCallNote.js";
import type { SendTransaction } from "./evmContracts.js";
import { agreementContractKey, logsOf } from "./evmContracts.js";
import { hashText, toExtrasInput, toRecordInput } from "./evmEncoding.js";

/** What submitting records needs of an EVM ledger. */
interface RecordsChain {
  readonly registry: Contract;
  readonly runner: ContractRunner;
  /** Most records per transaction. */
  readonly maxBatch: number;
  readonly send: SendTransaction;
}

/**
 * Sends accepted records to the registry: one transaction per run of contiguous records of
 * one channel (at most `maxBatch`), each carrying its channel and extras in a call note, and
 * checks the contract accepted exactly those sequence numbers.
 */
export async function submitRecordsOnChain(
  c: RecordsChain,
  agreement: Agreement,
  records: readonly MeterRecord[],
  at: Date,
): Promise<void> {
  const { registry, runner, maxBatch, send } = c;
  const agreementId = agreement.agreementId;
  const key = agreementContractKey(agreement);
  const withExtras = agreement.tariff.sla !== undefined;
  let i = 0;
  while (i < records.length) {
    // One transaction per run of contiguous records of one channel, at most maxBatch. The
    // contract checkpoints every billing-period end the records reach by itself.
    let j = i + 1;
    while (j < records.length && j - i < maxBatch && records[j]!.channel === records[i]!.channel) {
      j++;
    }
    const run = records.slice(i, j);
    const args: unknown[] = [
      key,
      hashText(run[0]!.channel),
      run[0]!.seq,
      run[0]!.periodStart.getTime(),
      run.map(toRecordInput),
    ];
    if (withExtras) args.push(run.map(toExtrasInput));
    const extras = run.map((r) => meterRecordToJson(r).extras ?? null);
    const note: EvmCallNote = {
      v: 1,
      at: at.toISOString(),
      r: { ch: run[0]!.channel, ...(extras.some((x) => x !== null) ? { x: extras } : {}) },
    };
    const receipt = await send(
      registry,
      runner,
      withExtras ? "submitRecordsWithExtras" : "submitRecords",
      args,
      at,
      note,
    );
    const accepted = logsOf(registry, receipt, "RecordAccepted");
    const expected = run.map((r) => r.seq);
    if (accepted.map((a) => Number(a.seq)).join() !== expected.join()) {
      throw ledgerError("settlement.ledger.corrupt", "The contract accepted other records", {
        agreementId,
        expected,
      });
    }
    i = j;
  }
}
