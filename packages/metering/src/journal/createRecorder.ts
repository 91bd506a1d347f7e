import type { Signer } from "ethers";
import { concatMap, map, type OperatorFunction } from "rxjs";
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
   * seqs, and pipelined: the next record is signed while the previous one is being
   * fsynced (the chain needs only its digest). A failed build or signature leaves the
   * chain where it was. A failed append fails every call queued before the failure was
   * known (`metering.journal.writeFailed`; none of their records is appended) and the
   * chain restarts from the journal's last durable record.
   */
  record(window: MeterWindow): Promise<MeterRecord>;
  /** Pipeable form of `record`, in window order; windows are signed as they arrive. */
  recordWindows(): OperatorFunction<MeterWindow, MeterRecord>;
  /** Where the durable chain stands: the next seq and prevHash, the last period end and register. */
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
  // `chain`: after the last durable record (what `chain()` reports). `signed`: after the
  // last record signed and handed to the journal — the next record builds on it, so it
  // can be signed while the journal is still making the previous one durable.
  let chain: MeterRecordChainState =
    last === undefined ? genesisChainState() : nextChainState(last);
  let signed = chain;
  let machineId = last?.machineId;
  let queue: Promise<unknown> = Promise.resolve();
  // A failed append ends a generation: calls issued before it was known fail unsigned, and
  // the chain restarts from the journal.
  let generation = 0;
  let failure: unknown;

  const clockNow = (): ClockStatus =>
    typeof params.clock === "function" ? params.clock() : (params.clock ?? "unknown");

  function assertGeneration(issuedIn: number): void {
    if (issuedIn === generation) return;
    throw journalError(
      "metering.journal.writeFailed",
      "Not recorded: the append of an earlier record failed, so this window was not signed; record it again",
      { window: "not signed" },
      failure,
    );
  }

  function restartFromJournal(cause: unknown): void {
    generation++;
    failure = cause;
    // The journal reset itself to its last durable record: continue from there.
    try {
      const durable = journal.last();
      chain = durable === undefined ? genesisChainState() : nextChainState(durable);
      machineId = durable?.machineId;
    } catch {
      // The journal is closed: every later append fails anyway; keep the durable chain.
    }
    signed = chain;
  }

  async function signNext(
    window: MeterWindow,
    issuedIn: number,
    proceed: () => boolean,
  ): Promise<{ record: MeterRecord; durable: Promise<void> }> {
    assertGeneration(issuedIn);
    // Yield to the event loop first: completed fsyncs get committed (and failures seen)
    // between records instead of after a whole burst.
    await new Promise<void>((resolve) => setImmediate(resolve));
    assertGeneration(issuedIn);
    if (!proceed()) {
      throw journalError(
        "metering.journal.writeFailed",
        "Not recorded: an earlier window of the same stream failed",
        { window: "not signed" },
      );
    }
    const oee = params.oee?.(window);
    const unsigned = buildMeterRecord(window, {
      ...params.build,
      binding,
      chain: signed,
      clock: clockNow(),
      ...(oee === undefined ? {} : { oee }),
    });
    const record = await signMeterRecord(unsigned, { signer, domain: binding });
    assertGeneration(issuedIn);
    const durable = journal.append(record);
    signed = nextChainState(record);
    durable.then(
      () => {
        if (issuedIn !== generation) return;
        chain = nextChainState(record);
        machineId = record.machineId;
      },
      (err) => {
        if (issuedIn === generation) restartFromJournal(err);
      },
    );
    return { record, durable };
  }

  function enqueue(window: MeterWindow, proceed: () => boolean): Promise<MeterRecord> {
    const issuedIn = generation;
    const step = queue.then(() => signNext(window, issuedIn, proceed));
    queue = step.catch(() => undefined);
    return step.then(async ({ record, durable }) => {
      await durable;
      return record;
    });
  }

  const recorder: Recorder = {
    record: (window) => enqueue(window, () => true),
    recordWindows() {
      return (source) => {
        // Each window starts as it arrives (so signing overlaps the previous fsync); the
        // stream emits in window order. After a failure the stream errors and the windows
        // it had already passed on are not signed, as if it had stopped there.
        let failed = false;
        return source.pipe(
          map((window) => {
            const pending = enqueue(window, () => !failed);
            pending.catch(() => {
              failed = true;
            });
            return pending;
          }),
          concatMap((pending) => pending),
        );
      };
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
