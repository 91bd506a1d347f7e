import {
  CLOCK_STATUSES,
  encodeMeterRecord,
  type MeterRecordJson,
  meterRecordFromJson,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  toDecimal,
} from "@maaskit/metering";
import {
  type Contract,
  formatUnits,
  getAddress,
  type JsonRpcApiProvider,
  type Log,
  recoverAddress,
  Signature,
  type Signer,
  ZeroAddress,
  ZeroHash,
} from "ethers";
import { type Agreement, parseAgreement } from "../../agreement.js";
import type { LedgerDomain } from "../../ledger.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import type { Command, LedgerCore } from "../../rules/index.js";
import { readCallNote } from "./evmCallNote.js";
import { agreementContractKey, tokenOf, units } from "./evmContracts.js";
import { agreementKey, hashText, toAgreementInput, workOrderKey } from "./evmEncoding.js";
import type { EvmLedgerAddresses } from "./evmLedgerTypes.js";

/** What rebuilding the mirror reads and fills. */
export interface MirrorContext {
  readonly provider: JsonRpcApiProvider;
  readonly addresses: EvmLedgerAddresses;
  readonly registry: Contract;
  readonly escrow: Contract;
  readonly domain: LedgerDomain;
  /** This ledger's signers by lower-case address: their transactions carry trusted notes. */
  readonly signers: ReadonlyMap<string, Signer>;
  readonly core: LedgerCore;
  /** Filled: the commands applied, with their ledger instants. */
  readonly applied: { cmd: Command; at: Date }[];
  /** Filled: the events the applied commands emitted. */
  readonly history: LedgerEvent[];
  /** Filled: the transactions the mirror did not apply, with why. */
  readonly foreign: { hash: string; reason: string }[];
}

/**
 * Rebuilds the mirror from the chain: every transaction that left a log on the contracts
 * since `fromBlock`, in chain order, is replayed from its calldata and note — the exact
 * command and ledger time the sending backend executed — and checked against its logs.
 */
export async function replayChain(m: MirrorContext, fromBlock: number): Promise<void> {
  const {
    provider,
    addresses,
    registry,
    escrow,
    domain,
    signers,
    core,
    applied,
    history,
    foreign,
  } = m;
  const agreementOf = (agreementId: string): Agreement =>
    core.agreementState(agreementId).agreement;
  const keyOf = agreementContractKey;
  async function resume(fromBlock: number): Promise<void> {
    const latest = await provider.getBlockNumber();
    const logs: Log[] = [];
    // In ranges: public RPC nodes cap the blocks one eth_getLogs may span.
    for (let lo = fromBlock; lo <= latest; lo += LOG_RANGE) {
      logs.push(
        ...(await provider.getLogs({
          address: [addresses!.meterAgreements, addresses!.workOrderEscrow],
          fromBlock: lo,
          toBlock: Math.min(lo + LOG_RANGE - 1, latest),
        })),
      );
    }
    const byTx = new Map<string, Log[]>();
    for (const log of [...logs].sort(
      (a, b) =>
        a.blockNumber - b.blockNumber ||
        a.transactionIndex - b.transactionIndex ||
        a.index - b.index,
    )) {
      const list = byTx.get(log.transactionHash) ?? [];
      list.push(log);
      byTx.set(log.transactionHash, list);
    }
    const ids = new Map<string, string>();
    const channels = new Map<string, string>();
    for (const [hash, txLogs] of byTx) {
      const tx = await provider.getTransaction(hash);
      if (tx === null) {
        foreign.push({ hash, reason: "transaction not found" });
        continue;
      }
      const { data, note } = readCallNote(tx.data);
      const own = signers.has(tx.from.toLowerCase());
      let cmd: Command | undefined;
      let at: Date;
      try {
        if (own && note !== undefined) {
          at = new Date(note.at);
          cmd =
            note.r === undefined
              ? (note.c as Command)
              : recordsCommand(data, note.r.ch, note.r.x, ids, txLogs);
          // A note counts only when it describes the calldata it rides on.
          checkNote(cmd, data, tx.from, tx.to ?? "");
        } else {
          // Not sent by this ledger: never trusted. What the contracts prove by themselves
          // (signed records, deposits) is read from the calldata and checked against the
          // logs; anything else is reported (`foreignTransactions()`).
          const block = await provider.getBlock(tx.blockNumber ?? 0);
          at = new Date(Number(block?.timestamp ?? 0) * 1000);
          cmd = foreignCommand(data, tx.from, tx.to ?? "", ids, channels, txLogs);
          if (cmd === undefined) {
            foreign.push({ hash, reason: "not sent by this ledger; not mirrored" });
            continue;
          }
        }
        const out = core.execute(cmd, at, cmd.t === "submitRecords");
        checkLogs(cmd, out, txLogs, hash);
        if (cmd.t === "openAgreement") {
          const a = cmd.agreement as {
            agreementId: string;
            parties: { provider: string; customer: string };
          };
          ids.set(
            agreementKey(
              a.agreementId,
              getAddress(a.parties.provider),
              getAddress(a.parties.customer),
            ),
            a.agreementId,
          );
        }
        if (cmd.t === "submitRecords") {
          const last = cmd.records[cmd.records.length - 1] as { channel?: string } | undefined;
          if (last?.channel !== undefined) channels.set(cmd.agreementId, last.channel);
        }
        applied.push({ cmd, at });
        history.push(...out.events);
      } catch (err) {
        // A transaction the mirror cannot apply exactly is reported, never fatal: the chain
        // state stays the contracts' (read it there); the mirror goes on without it.
        foreign.push({ hash, reason: (err as Error).message });
      }
    }
  }

  /** Throws unless `cmd` is what the calldata `data` sent by `from` to `to` does. */
  function checkNote(cmd: Command, data: string, from: string, to: string): void {
    const bad = (why: string): never => {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `The call note does not match its calldata: ${why}`,
        {},
      );
    };
    const onRegistry = to.toLowerCase() === addresses!.meterAgreements.toLowerCase();
    const contract = onRegistry ? registry : escrow;
    const parsed = contract.interface.parseTransaction({ data });
    if (parsed === null) {
      bad("unknown function");
      return;
    }
    const args = parsed.args;
    const by = "by" in cmd && typeof cmd.by === "string" ? cmd.by : undefined;
    if (by !== undefined && by.toLowerCase() !== from.toLowerCase()) bad("sender");
    const method: Record<string, string> = {
      openAgreement: "openAgreement",
      acceptAgreement: "openAgreement",
      revokeSigner: "revokeSigner",
      submitRecords: parsed.name,
      settlePeriod: "settlePeriod",
      settleStatement: "settleStatement",
      deposit: "deposit",
      withdraw: "withdraw",
      openWorkOrder: "open",
      fundWorkOrder: "fund",
      acceptWorkOrder: "accept",
      completeWorkOrder: "complete",
      confirmWorkOrder:
        "signature" in cmd && cmd.signature !== undefined ? "confirmByMachine" : "confirm",
      cancelWorkOrder: "cancel",
      disputeWorkOrder: "dispute",
      resolveDispute: "resolve",
      expireWorkOrder: "expire",
    };
    if (method[cmd.t] !== parsed.name) bad("function");
    const keyOfId = (id: string) => keyOf(agreementOf(id));
    switch (cmd.t) {
      case "openAgreement": {
        const a = parseAgreement(cmd.agreement);
        if (args[0] !== a.agreementId) bad("agreement id");
        const expected = registry.interface.encodeFunctionData("openAgreement", [
          a.agreementId,
          toAgreementInput(a, tokenOf(a.currency, "agreement's")),
        ]);
        if (expected !== data) bad("terms");
        if (!onRegistry) bad("contract");
        return;
      }
      case "acceptAgreement":
        if (args[0] !== cmd.agreementId || !onRegistry) bad("agreement");
        return;
      case "revokeSigner":
      case "settlePeriod":
      case "withdraw":
      case "deposit":
        if (args[0] !== keyOfId(cmd.agreementId) || !onRegistry) bad("agreement");
        if (
          cmd.t === "settlePeriod" &&
          (Number(args[1]) !== Date.parse(cmd.start) || Number(args[2]) !== Date.parse(cmd.end))
        ) {
          bad("period");
        }
        if (cmd.t === "deposit" || cmd.t === "withdraw") {
          const decimals = core.balance(cmd.agreementId).currency.decimals;
          if (args[1] !== units(toDecimal(cmd.amount), decimals)) bad("amount");
          const ref = cmd.reference === undefined ? ZeroHash : hashText(cmd.reference);
          if (args[2] !== ref) bad("reference");
        }
        if (cmd.t === "revokeSigner" && getAddress(args[1] as string) !== getAddress(cmd.signer))
          bad("signer");
        return;
      case "settleStatement": {
        const st = cmd.statement as { agreementId: string };
        if (args[0] !== keyOfId(st.agreementId) || !onRegistry) bad("agreement");
        return;
      }
      case "submitRecords":
        if (!onRegistry) bad("contract");
        return;
      case "openWorkOrder":
        if (args[0] !== cmd.terms.workOrderId || onRegistry) bad("work order");
        if (from.toLowerCase() !== cmd.terms.customer.toLowerCase()) bad("sender");
        return;
      default: {
        if (onRegistry || !("workOrderId" in cmd)) {
          bad("contract");
          return;
        }
        const customer = core.workOrder(cmd.workOrderId).customer;
        const key =
          cmd.t === "confirmWorkOrder" && cmd.signature !== undefined
            ? workOrderKey(getAddress(args[0] as string), args[1] as string)
            : (args[0] as string);
        if (key !== workOrderKey(getAddress(customer), cmd.workOrderId)) bad("work order");
      }
    }
  }

  /** What a transaction not sent by this ledger did, when the contracts prove it by themselves. */
  function foreignCommand(
    data: string,
    from: string,
    to: string,
    ids: ReadonlyMap<string, string>,
    channels: ReadonlyMap<string, string>,
    txLogs: readonly Log[],
  ): Command | undefined {
    if (to.toLowerCase() !== addresses!.meterAgreements.toLowerCase()) return undefined;
    const parsed = registry.interface.parseTransaction({ data });
    if (parsed === null) return undefined;
    const agreementId = ids.get(parsed.args[0] as string);
    if (agreementId === undefined) return undefined;
    if (parsed.name === "deposit") {
      const [ev] = txLogs
        .map((l) => registry.interface.parseLog(l))
        .filter((x) => x?.name === "FundsDeposited");
      if (ev === undefined || ev === null) return undefined;
      const decimals = core.balance(agreementId).currency.decimals;
      const ref = ev.args.ref as string;
      return {
        t: "deposit",
        agreementId,
        amount: formatUnits(ev.args.amount as bigint, decimals),
        by: getAddress(from),
        ...(ref === ZeroHash ? {} : { reference: ref }),
      };
    }
    if (parsed.name === "submitRecords" || parsed.name === "submitRecordsWithExtras") {
      // Signed records relayed by someone else: the signatures are the authority. The channel
      // name is the one the agreement's records carried so far (checked by the digests).
      const channel = channels.get(agreementId);
      if (channel === undefined || parsed.name !== "submitRecords") return undefined;
      return recordsCommand(data, channel, undefined, ids, txLogs);
    }
    if (parsed.name === "settlePeriod") {
      return {
        t: "settlePeriod",
        agreementId,
        start: new Date(Number(parsed.args[1])).toISOString(),
        end: new Date(Number(parsed.args[2])).toISOString(),
      };
    }
    return undefined;
  }

  /** The chain's logs of a replayed transaction must be what the mirror did. */
  function checkLogs(
    cmd: Command,
    out: { events: readonly LedgerEvent[] },
    txLogs: readonly Log[],
    hash: string,
  ) {
    const parsed = txLogs
      .filter((l) => l.address.toLowerCase() === addresses!.meterAgreements.toLowerCase())
      .map((l) => registry.interface.parseLog(l));
    if (cmd.t === "submitRecords") {
      const onChain = parsed
        .filter((p) => p?.name === "RecordAccepted")
        .map((p) => p!.args.recordHash as string);
      const mirrored = out.events.flatMap((e) =>
        e.type === "RecordAccepted" ? [e.recordHash] : [],
      );
      if (onChain.join() !== mirrored.join()) {
        throw ledgerError("settlement.ledger.corrupt", "Rebuilt records differ from the chain's", {
          hash,
        });
      }
    }
    if (cmd.t === "deposit") {
      const ev = parsed.find((p) => p?.name === "FundsDeposited");
      const mirrored = out.events.find((e) => e.type === "FundsDeposited");
      if (ev === undefined || mirrored === undefined) {
        throw ledgerError("settlement.ledger.corrupt", "A deposit the chain did not make", {
          hash,
        });
      }
    }
    if (cmd.t === "settlePeriod" || cmd.t === "settleStatement") {
      const ev = parsed.find((p) => p?.name === "PeriodSettled");
      const mirrored = out.events.find((e) => e.type === "PeriodSettled");
      if (
        ev === undefined ||
        ev === null ||
        mirrored === undefined ||
        mirrored.type !== "PeriodSettled"
      ) {
        throw ledgerError("settlement.ledger.corrupt", "A settlement the chain did not make", {
          hash,
        });
      }
    }
  }

  /** A record submission rebuilt from its calldata, the agreement and the call's note. */
  function recordsCommand(
    data: string,
    channel: string,
    extrasJson: readonly unknown[] | undefined,
    ids: ReadonlyMap<string, string>,
    txLogs: readonly Log[],
  ): Command {
    const parsed = registry.interface.parseTransaction({ data });
    const agreementId = parsed === null ? undefined : ids.get(parsed.args[0] as string);
    if (parsed === null || agreementId === undefined) {
      throw ledgerError("settlement.ledger.corrupt", "A record submission of no known agreement", {
        hash: txLogs[0]?.transactionHash,
      });
    }
    const agreement = core.agreementState(agreementId).agreement;
    const metered = agreement.tariff.metered;
    let prevHash = core.head(agreementId).headHash;
    let start = Number(parsed.args[3]);
    const firstSeq = Number(parsed.args[2]);
    const inputs = parsed.args[4] as unknown as {
      periodEnd: bigint;
      quantity: bigint;
      registerStart: bigint;
      registerEnd: bigint;
      flags: bigint;
      clock: bigint;
      quarantined: bigint;
      r: string;
      vs: string;
    }[];
    const records = inputs.map((x, i) => {
      const bits = Number(x.flags);
      const flags: Record<string, true> = {};
      for (const name of RECORD_FLAG_NAMES) {
        if ((bits & (1 << RECORD_FLAG_BITS[name])) !== 0) flags[name] = true;
      }
      const extras = extrasJson?.[i] ?? null;
      const json = {
        kind: "meterRecord",
        version: 1,
        agreementId,
        chainId: domain.chainId,
        verifyingContract: domain.verifyingContract,
        machineId: agreement.machineId,
        channel,
        seq: firstSeq + i,
        periodStart: new Date(start).toISOString(),
        periodEnd: new Date(Number(x.periodEnd)).toISOString(),
        quantity: {
          value: fixed9(x.quantity),
          unit: metered.unit,
          ...(metered.basis === undefined ? {} : { basis: metered.basis }),
        },
        // Flag bit 5 (noRegister) says the record has no register span.
        ...((bits & 32) !== 0
          ? {}
          : {
              register: {
                start: fixed9(x.registerStart),
                end: fixed9(x.registerEnd),
              },
            }),
        flags,
        clock: CLOCK_STATUSES[Number(x.clock)],
        quarantined: Number(x.quarantined),
        ...(extras === null ? {} : { extras }),
        prevHash,
        signer: ZeroAddress,
        signature: Signature.from({ r: x.r, yParityAndS: x.vs }).serialized,
      } as MeterRecordJson;
      const digest = encodeMeterRecord(meterRecordFromJson(json)).digest;
      json.signer = recoverAddress(digest, json.signature);
      prevHash = digest;
      start = Number(x.periodEnd);
      return json;
    });
    return { t: "submitRecords", agreementId, records };
  }
  await resume(fromBlock);
}

/** Blocks per `eth_getLogs` call when rebuilding from the chain. */
const LOG_RANGE = 10_000;

/** A 9-decimal fixed-point value as the canonical decimal string of a record's JSON form ("1000", not "1000.0"). */
function fixed9(value: bigint): string {
  return formatUnits(value, 9).replace(/\.0$/, "");
}
