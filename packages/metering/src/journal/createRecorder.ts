import type { Signer } from "ethers";
import { concatMap, type OperatorFunction } from "rxjs";
import type { CounterDeltaInitial } from "../operators/counterDelta.js";
import { type BuildMeterRecordParameters, buildMeterRecord } from "../records/createMeterRecord.js";
import {
  type ClockStatus,
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  type OeeElements,
} from "../records/meterRecord.js";
import {
  genesisChainState,
  type MeterRecordChainState,
  nextChainState,
} from "../records/meterRecordChain.js";
import { sameBinding, signMeterRecord } from "../records/signMeterRecord.js";
import type { MeterWindow } from "../window.js";
import { journalError } from "./errors.js";
import type { Journal } from "./openJournal.js";

export interface CreateRecorderParameters {
  /** A journal of signed records (opened with `meterRecordCodec`), one per agreement. */
  journal: Journal<MeterRecord>;
  /** Any ethers v6 signer; a `Wallet` signs in-process. */
  signer: Signer;
  /** The agreement (and ledger) every record is bound to. */
  binding: MeterRecordBinding;
  /** Clock status of the gateway when a window closes. Default `"unknown"`. */
  clock?: ClockStatus | (() => ClockStatus);
  /** OEE elements of a window (e.g. mapped from `window.oee`), if metered. */
  oee?: (window: MeterWindow) => OeeElements | undefined;
  /** Further options of `buildMeterRecord` (billed channel, unit, extras, quantize). */
  build?: Omit<BuildMeterRecordParameters, "binding" | "chain" | "clock" | "oee">;
}

export interface Recorder {
  /**
   * Builds the next record from a closed window, signs it, appends it to the journal and
   * returns it once durable. Calls are serialised, so concurrent windows get consecutive
   * seqs. A failed build, signature or append leaves the chain where it was.
   */
  record(window: MeterWindow): Promise<MeterRecord>;
  /** Pipeable form of `record`, in window order. */
  recordWindows(): OperatorFunction<MeterWindow, MeterRecord>;
  /** Where the chain stands: the next seq and prevHash, the last period end and register. */
  chain(): MeterRecordChainState;
  /**
   * Where `counterDelta` resumes after a restart: the last journaled register of `channel`
   * (billed or extra) at the end of the last recorded period; undefined before any record.
   */
  counterInitial(channel: string): CounterDeltaInitial | undefined;
}

/**
 * Turns `MeterWindow`s into signed, hash-chained records written to the journal before
 * anyone else sees them. It resumes the chain (seq, prevHash, period end, register end)
 * from the journal, so a restarted gateway continues where the last durable record ended.
 *
 * @example
 * ```ts
 * const journal = await openJournal({ dir, codec: meterRecordCodec });
 * const recorder = createRecorder({ journal, signer: wallet, binding, clock: "synchronised" });
 * windows$.pipe(recorder.recordWindows()).subscribe();
 * ```
 */
export function createRecorder(params: CreateRecorderParameters): Recorder {
  const { journal, signer, binding } = params;
  const state = journal.state();
  if (state.genesis.seq !== 0 || state.genesis.hash !== GENESIS_HASH) {
    throw journalError(
      "metering.journal.invalidConfig",
      "A meter record journal must start at seq 0 with the genesis hash",
      { genesis: state.genesis },
    );
  }
  const last = journal.last();
  if (last !== undefined && !sameBinding(last, binding)) {
    throw journalError(
      "metering.journal.invalidConfig",
      `The journal holds records of agreement ${last.agreementId}, not ${binding.agreementId}`,
      { journal: last.agreementId, binding: binding.agreementId },
    );
  }
  let chain: MeterRecordChainState =
    last === undefined ? genesisChainState() : nextChainState(last);
  let machineId = last?.machineId;
  let queue: Promise<unknown> = Promise.resolve();

  const clockNow = (): ClockStatus =>
    typeof params.clock === "function" ? params.clock() : (params.clock ?? "unknown");

  async function recordNow(window: MeterWindow): Promise<MeterRecord> {
    const oee = params.oee?.(window);
    const unsigned = buildMeterRecord(window, {
      ...params.build,
      binding,
      chain,
      clock: clockNow(),
      ...(oee === undefined ? {} : { oee }),
    });
    const record = await signMeterRecord(unsigned, { signer, domain: binding });
    await journal.append(record);
    chain = nextChainState(record);
    machineId = record.machineId;
    return record;
  }

  const recorder: Recorder = {
    record(window) {
      const result = queue.then(() => recordNow(window));
      queue = result.catch(() => undefined);
      return result;
    },
    recordWindows() {
      return (source) => source.pipe(concatMap((window) => recorder.record(window)));
    },
    chain: () => chain,
    counterInitial(channel) {
      const register = journal.state().registers[channel];
      if (register === undefined || chain.periodEnd === undefined || machineId === undefined) {
        return undefined;
      }
      return { register, at: chain.periodEnd, machineId };
    },
  };
  return recorder;
}
