import {
  CLOCK_STATUSES,
  decimalToString,
  encodeMeterRecord,
  type MeterRecord,
  type MeterRecordJson,
  meterRecordFromJson,
  meterRecordToJson,
  type PeriodStatement,
  periodStatementToJson,
  RECORD_FLAG_BITS,
  RECORD_FLAG_NAMES,
  toDecimal,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import {
  Contract,
  ContractFactory,
  type ContractRunner,
  formatUnits,
  getAddress,
  type InterfaceAbi,
  type JsonRpcApiProvider,
  type Log,
  recoverAddress,
  Signature,
  type Signer,
  type TransactionReceipt,
  ZeroAddress,
  ZeroHash,
} from "ethers";
import { from, Observable, Subject, switchMap } from "rxjs";
import { type Agreement, agreementToJson, parseAgreement } from "../../agreement.js";
import type { Invoice } from "../../invoice.js";
import type {
  AgreementState,
  FundsResult,
  LedgerBackend,
  LedgerClock,
  LedgerDomain,
  OpenAgreementResult,
  OpenWorkOrderResult,
  SubmitRecordsResult,
  WorkOrder,
  WorkOrderTerms,
} from "../../ledger.js";
import { isLedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import { recordsToJson } from "../../recordsToJson.js";
import { type Command, LedgerCore, workOrderTermsToJson } from "../../rules/index.js";
import { appendCallNote, type EvmCallNote, readCallNote } from "./evmCallNote.js";
import {
  agreementKey,
  hashText,
  toAgreementInput,
  toExtrasInput,
  toRecordInput,
  toStatementInput,
  workOrderKey,
} from "./evmEncoding.js";
import { meterAgreementsAbi, meterAgreementsBytecode } from "./generated/MeterAgreements.js";
import { workOrderEscrowAbi, workOrderEscrowBytecode } from "./generated/WorkOrderEscrow.js";

/** Addresses of the maaskit contracts on a chain. */
export interface EvmLedgerAddresses {
  readonly meterAgreements: string;
  readonly workOrderEscrow: string;
}

/** Options of `evmLedger`. */
export interface EvmLedgerParameters {
  /**
   * The chain. Against a local node use `{ staticNetwork: true, cacheTimeout: -1,
   * batchMaxCount: 1 }` (ethers' response cache otherwise reuses stale nonces).
   */
  readonly provider: JsonRpcApiProvider;
  /** Deploys (with `deploy`) and relays what needs no party: records, statements, attestations. */
  readonly signer: Signer;
  /** Signers of the parties the ledger acts for (`by` of deposits, work-order steps, …). */
  readonly parties?: readonly Signer[];
  /** Existing contracts; or `deploy: true` to deploy fresh ones with `signer`. */
  readonly addresses?: EvmLedgerAddresses;
  readonly deploy?: boolean;
  /**
   * With `addresses`: the block the contracts were deployed in (default 0). The backend
   * rebuilds its state from the contracts' logs from there on, so a restarted process
   * reports the agreements, records, invoices, events and work orders it made before.
   */
  readonly fromBlock?: number;
  /**
   * Ledger time. On a development node (anvil) every transaction's block gets this clock's
   * second (`evm_setTime`), so deadlines and event stamps follow it; leave it out on a real
   * chain, where the block time rules.
   */
  readonly clock?: LedgerClock;
  /** Records per transaction (default 100). */
  readonly maxBatch?: number;
}

/** The EVM ledger: a `LedgerBackend` plus where its contracts live. */
export interface EvmLedger extends LedgerBackend {
  readonly kind: "evm";
  readonly addresses: EvmLedgerAddresses;
  readonly chainId: bigint;
  /** Receipts of every transaction sent, in order (gas accounting, audits). */
  readonly receipts: () => readonly TransactionReceipt[];
  /**
   * Transactions on the contracts found when resuming that this ledger did not send (or whose
   * note did not match their calldata) and could not mirror from what the chain proves by
   * itself: reported, never trusted. The contracts' own state stays authoritative.
   */
  readonly foreignTransactions: () => readonly { readonly hash: string; readonly reason: string }[];
}

/**
 * The EVM backend of the `LedgerBackend` port: pay-per-use agreements on `MeterAgreements`
 * and work orders on `WorkOrderEscrow`, paid in the agreement's ERC-20 token. The contracts
 * enforce every rule on-chain (signatures, signer windows, seq, chain, periods, tariff,
 * funds, roles, deadlines). The backend first runs each call through the same rules as the
 * embedded ledger (a mirror of the ledger's state), so a bad input fails with the same error
 * code before any gas is spent and results, invoices and events are identical across
 * backends; then it sends the transaction(s) and checks the contract's outcome (record
 * digests, settled totals) against the mirror. On existing contracts (`addresses`) it first
 * rebuilds the mirror from the chain: the logs since `fromBlock`, the calldata and the note
 * it appends to each call, so a restarted process goes on exactly. See docs/evm.md.
 *
 * @example
 * ```ts
 * const provider = new JsonRpcProvider(url, undefined, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 })
 * const ledger = await evmLedger({ provider, signer, parties: [provider, customer], deploy: true })
 * await ledger.openAgreement(agreement)
 * ```
 */
export async function evmLedger(params: EvmLedgerParameters): Promise<EvmLedger> {
  const { provider, signer } = params;
  const clock = params.clock;
  const maxBatch = params.maxBatch ?? 100;
  const chainId = (await provider.getNetwork()).chainId;
  const runner = signer.connect(provider);

  let addresses = params.addresses;
  if (addresses === undefined) {
    if (params.deploy !== true) {
      throw ledgerError("settlement.ledger.unavailable", "Pass `addresses` or `deploy: true`", {});
    }
    await setChainTime(clock?.now());
    const registry = await deployContract(runner, meterAgreementsAbi, meterAgreementsBytecode);
    await setChainTime(clock?.now());
    const escrowAddress = await deployContract(
      runner,
      workOrderEscrowAbi,
      workOrderEscrowBytecode,
      registry,
    );
    addresses = { meterAgreements: registry, workOrderEscrow: escrowAddress };
  }
  const registry = new Contract(addresses.meterAgreements, meterAgreementsAbi as InterfaceAbi);
  const escrow = new Contract(addresses.workOrderEscrow, workOrderEscrowAbi as InterfaceAbi);
  const domain: LedgerDomain = {
    chainId: Number(chainId),
    verifyingContract: getAddress(addresses.meterAgreements),
  };

  const signers = new Map<string, Signer>();
  for (const s of [signer, ...(params.parties ?? [])]) {
    signers.set((await s.getAddress()).toLowerCase(), s.connect(provider));
  }

  let core = new LedgerCore(domain);
  const applied: { cmd: Command; at: Date }[] = [];
  const history: LedgerEvent[] = [];
  const live = new Subject<LedgerEvent>();
  const receipts: TransactionReceipt[] = [];
  let closed = false;
  let tail: Promise<unknown> = Promise.resolve();

  async function setChainTime(at: Date | undefined): Promise<void> {
    if (at === undefined) return;
    const seconds = Math.floor(at.getTime() / 1000);
    // A development node only: evm_setTime may move back (scenarios replay history);
    // the next block then carries exactly this second.
    await provider.send("evm_setTime", [seconds]);
    await provider.send("evm_setNextBlockTimestamp", [seconds]);
  }

  function partySigner(address: string): Signer {
    const s = signers.get(address.toLowerCase());
    if (s === undefined) {
      throw ledgerError(
        "settlement.ledger.unavailable",
        "No signer for this party: pass it in `parties`",
        { address },
      );
    }
    return s;
  }

  async function send(
    contract: Contract,
    from: ContractRunner,
    method: string,
    args: readonly unknown[],
    at: Date,
    note?: EvmCallNote,
  ): Promise<TransactionReceipt> {
    await setChainTime(clock === undefined ? undefined : at);
    const c = contract.connect(from) as Contract;
    let tx: Awaited<ReturnType<Signer["sendTransaction"]>>;
    if (note === undefined) {
      tx = await c.getFunction(method)(...args);
    } else {
      // The note rides behind the ABI arguments (the contracts ignore it): what a restarted
      // backend needs to rebuild its mirror exactly.
      const req = await c.getFunction(method).populateTransaction(...args);
      req.data = appendCallNote(req.data, note);
      tx = await (from as Signer).sendTransaction(req);
    }
    const receipt = (await tx.wait()) as TransactionReceipt | null;
    if (receipt === null || receipt.status !== 1) {
      throw ledgerError("settlement.ledger.unavailable", `${method} failed on chain`, {
        method,
        hash: tx.hash,
      });
    }
    receipts.push(receipt);
    return receipt;
  }

  function logsOf(contract: Contract, receipt: TransactionReceipt, name: string) {
    const out: Record<string, unknown>[] = [];
    const address = (contract.target as string).toLowerCase();
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== address) continue;
      const parsed = contract.interface.parseLog(log);
      if (parsed?.name === name) out.push(parsed.args.toObject());
    }
    return out;
  }

  /**
   * Runs one command: the mirror validates and applies it (or throws the backend-neutral
   * error), the chain executes it, and on a chain failure the mirror is rebuilt without it.
   */
  function run<T>(
    cmd: Command,
    onChain: (result: T, at: Date, note: EvmCallNote) => Promise<void>,
  ): Promise<T> {
    const next = tail.then(async () => {
      if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", {});
      const at = clock?.now() ?? new Date();
      const out = core.execute(cmd, at, false);
      if (out.changed) {
        try {
          await onChain(out.result as T, at, { v: 1, at: at.toISOString(), c: cmd });
        } catch (err) {
          core = new LedgerCore(domain);
          for (const a of applied) core.execute(a.cmd, a.at, true);
          throw isLedgerError(err)
            ? err
            : ledgerError(
                "settlement.ledger.unavailable",
                "The chain refused or did not confirm the transaction",
                {},
                err,
              );
        }
        applied.push({ cmd, at });
      }
      history.push(...out.events);
      for (const e of out.events) live.next(e);
      return out.result as T;
    });
    tail = next.catch(() => {});
    return next;
  }

  async function read<T>(fn: () => T): Promise<T> {
    await tail;
    if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", {});
    return fn();
  }

  function units(amount: Decimal, decimals: number): bigint {
    return BigInt(amount.mul(`1e${decimals}`).toFixed(0));
  }

  async function ensureAllowance(
    owner: Signer,
    token: string,
    spender: string,
    amount: bigint,
    at: Date,
  ) {
    const erc20 = new Contract(token, erc20Abi, owner);
    const allowance = (await erc20.getFunction("allowance")(
      await owner.getAddress(),
      spender,
    )) as bigint;
    if (allowance < amount) await send(erc20, owner, "approve", [spender, 2n ** 256n - 1n], at);
  }

  function tokenOf(currency: { address?: string }, what: string): string {
    if (currency.address === undefined) {
      throw ledgerError(
        "settlement.agreement.invalid",
        `On an EVM ledger the ${what} currency must name its ERC-20 token address`,
        {},
      );
    }
    return currency.address;
  }

  function agreementOf(agreementId: string): Agreement {
    return core.agreementState(agreementId).agreement;
  }

  /** The contract's key of an agreement: its id bound to both parties. */
  function keyOf(agreement: Agreement): string {
    return agreementKey(
      agreement.agreementId,
      getAddress(agreement.parties.provider),
      getAddress(agreement.parties.customer),
    );
  }

  /** The escrow's key of a work order: its id bound to its customer. */
  function escrowKeyOf(workOrderId: string): string {
    return workOrderKey(getAddress(core.workOrder(workOrderId).customer), workOrderId);
  }

  async function submitChain(agreementId: string, records: readonly MeterRecord[], at: Date) {
    const agreement = agreementOf(agreementId);
    const key = keyOf(agreement);
    const withExtras = agreement.tariff.sla !== undefined;
    let i = 0;
    while (i < records.length) {
      // One transaction per run of contiguous records of one channel, at most maxBatch. The
      // contract checkpoints every billing-period end the records reach by itself.
      let j = i + 1;
      while (
        j < records.length &&
        j - i < maxBatch &&
        records[j]!.channel === records[i]!.channel
      ) {
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

  function checkSettled(receipt: TransactionReceipt, invoice: Invoice) {
    const [settled] = logsOf(registry, receipt, "PeriodSettled");
    const total = invoice.total.isNegative() ? 0n : units(invoice.total, invoice.currency.decimals);
    if (settled === undefined || settled.total !== total) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        "The contract's period charge differs from the Decimal pricing",
        { onChain: String(settled?.total), offChain: total.toString() },
      );
    }
  }

  async function workOrderStep(
    id: string,
    by: string,
    method: string,
    args: readonly unknown[],
    at: Date,
    note: EvmCallNote,
  ) {
    await send(escrow, partySigner(by), method, [escrowKeyOf(id), ...args], at, note);
  }

  /**
   * Rebuilds the mirror from the chain: every transaction that left a log on the contracts
   * since `fromBlock`, in chain order, is replayed from its calldata and note — the exact
   * command and ledger time the sending backend executed — and checked against its logs.
   */
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

  const foreign: { hash: string; reason: string }[] = [];
  if (params.addresses !== undefined) await resume(params.fromBlock ?? 0);

  const events$ = from(Promise.resolve()).pipe(
    switchMap(
      () =>
        new Observable<LedgerEvent>((subscriber) => {
          for (const e of history.slice()) subscriber.next(e);
          return live.subscribe(subscriber);
        }),
    ),
  );

  const ledger: EvmLedger = {
    kind: "evm",
    addresses,
    chainId,
    receipts: () => receipts.slice(),
    foreignTransactions: () => foreign.slice(),
    events$,

    openAgreement(agreement, options) {
      let input: ReturnType<typeof toAgreementInput>;
      const by = options?.by ?? agreement.parties.provider;
      try {
        input = toAgreementInput(agreement, tokenOf(agreement.currency, "agreement's"));
      } catch (err) {
        return Promise.reject(err);
      }
      return run<OpenAgreementResult>(
        { t: "openAgreement", agreement: agreementToJson(agreement), by },
        async (_r, at, note) => {
          await send(
            registry,
            partySigner(by),
            "openAgreement",
            [agreement.agreementId, input],
            at,
            note,
          );
        },
      );
    },

    acceptAgreement({ agreementId, by }) {
      return run<AgreementState>(
        { t: "acceptAgreement", agreementId, by },
        async (_r, at, note) => {
          const agreement = agreementOf(agreementId);
          const input = toAgreementInput(agreement, tokenOf(agreement.currency, "agreement's"));
          await send(registry, partySigner(by), "openAgreement", [agreementId, input], at, note);
        },
      );
    },

    revokeSigner({ agreementId, signer, by }) {
      return run<AgreementState>(
        { t: "revokeSigner", agreementId, signer, by },
        async (_r, at, note) => {
          await send(
            registry,
            partySigner(by),
            "revokeSigner",
            [keyOf(agreementOf(agreementId)), getAddress(signer)],
            at,
            note,
          );
        },
      );
    },

    submitRecords({ agreementId, records }) {
      let json: ReturnType<typeof recordsToJson>;
      try {
        json = recordsToJson(records);
      } catch (err) {
        return Promise.reject(err);
      }
      return run<SubmitRecordsResult>(
        { t: "submitRecords", agreementId, records: json },
        async (result, at) => {
          const fresh = new Set(
            result.results.filter((r) => r.status === "accepted").map((r) => r.seq),
          );
          const toSend = records
            .filter((r) => fresh.has(r.seq))
            .filter((r, i, all) => all.findIndex((x) => x.seq === r.seq) === i)
            .sort((a, b) => a.seq - b.seq);
          await submitChain(agreementId, toSend, at);
        },
      );
    },

    settlePeriod({ agreementId, period }) {
      return run<Invoice>(
        {
          t: "settlePeriod",
          agreementId,
          start: period.start.toISOString(),
          end: period.end.toISOString(),
        },
        async (invoice, at, note) => {
          const receipt = await send(
            registry,
            runner,
            "settlePeriod",
            [keyOf(agreementOf(agreementId)), period.start.getTime(), period.end.getTime()],
            at,
            note,
          );
          checkSettled(receipt, invoice);
        },
      );
    },

    settleStatement(statement: PeriodStatement) {
      return run<Invoice>(
        { t: "settleStatement", statement: periodStatementToJson(statement) },
        async (invoice, at, note) => {
          const receipt = await send(
            registry,
            runner,
            "settleStatement",
            [keyOf(agreementOf(statement.agreementId)), toStatementInput(statement)],
            at,
            note,
          );
          checkSettled(receipt, invoice);
        },
      );
    },

    deposit({ agreementId, amount, by, reference }) {
      return run<FundsResult>(
        {
          t: "deposit",
          agreementId,
          amount: amountString(amount),
          by,
          ...(reference === undefined ? {} : { reference }),
        },
        async (result, at, note) => {
          const payer = partySigner(by);
          const value = units(amount, result.balance.currency.decimals);
          await ensureAllowance(
            payer,
            tokenOf(result.balance.currency, "agreement's"),
            addresses.meterAgreements,
            value,
            at,
          );
          await send(
            registry,
            payer,
            "deposit",
            [
              keyOf(agreementOf(agreementId)),
              value,
              reference === undefined ? ZeroHash : hashText(reference),
            ],
            at,
            note,
          );
        },
      );
    },

    withdraw({ agreementId, amount, by, reference }) {
      return run<FundsResult>(
        {
          t: "withdraw",
          agreementId,
          amount: amountString(amount),
          by,
          ...(reference === undefined ? {} : { reference }),
        },
        async (result, at, note) => {
          await send(
            registry,
            partySigner(by),
            "withdraw",
            [
              keyOf(agreementOf(agreementId)),
              units(amount, result.balance.currency.decimals),
              reference === undefined ? ZeroHash : hashText(reference),
            ],
            at,
            note,
          );
        },
      );
    },

    getAgreement: (agreementId) => read(() => core.agreementState(agreementId)),
    getBalance: (agreementId) => read(() => core.balance(agreementId)),
    getInvoices: (agreementId) => read(() => core.invoices(agreementId)),
    getRecordsHead: (agreementId) => read(() => core.head(agreementId)),
    getEvents: () => read(() => history.slice()),

    openWorkOrder(terms: WorkOrderTerms) {
      let token: string;
      try {
        token = tokenOf(terms.currency, "work order's");
      } catch (err) {
        return Promise.reject(err);
      }
      return run<OpenWorkOrderResult>(
        { t: "openWorkOrder", terms: workOrderTermsToJson(terms) },
        async (_r, at, note) => {
          await send(
            escrow,
            partySigner(terms.customer),
            "open",
            [
              terms.workOrderId,
              {
                provider: terms.provider,
                arbiter: terms.arbiter,
                token,
                funder: terms.funder ?? ZeroAddress,
                machineSigner: terms.machineSigner ?? ZeroAddress,
                amount: units(terms.amount, terms.currency.decimals),
                acceptBy: Math.floor(terms.acceptBy.getTime() / 1000),
                completeBy: Math.floor(terms.completeBy.getTime() / 1000),
                conditionHash: terms.conditionHash,
              },
            ],
            at,
            note,
          );
        },
      );
    },

    fundWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "fundWorkOrder", workOrderId, by }, async (wo, at, note) => {
        const payer = partySigner(by);
        await ensureAllowance(
          payer,
          tokenOf(wo.currency, "work order's"),
          addresses.workOrderEscrow,
          units(wo.amount, wo.currency.decimals),
          at,
        );
        await workOrderStep(workOrderId, by, "fund", [], at, note);
      });
    },

    acceptWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "acceptWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "accept", [], at, note),
      );
    },

    completeWorkOrder({ workOrderId, proofHash, by }) {
      return run<WorkOrder>(
        { t: "completeWorkOrder", workOrderId, proofHash, by },
        (_wo, at, note) => workOrderStep(workOrderId, by, "complete", [proofHash], at, note),
      );
    },

    confirmWorkOrder(p) {
      if ("attestation" in p) {
        const a = p.attestation;
        return run<WorkOrder>(
          {
            t: "confirmWorkOrder",
            workOrderId: p.workOrderId,
            evidenceHash: a.evidenceHash,
            clearedAt: a.clearedAt.toISOString(),
            signature: a.signature,
          },
          async (_wo, at, note) => {
            const sig = Signature.from(a.signature);
            await send(
              escrow,
              runner,
              "confirmByMachine",
              [
                getAddress(core.workOrder(p.workOrderId).customer),
                p.workOrderId,
                a.evidenceHash,
                Math.floor(a.clearedAt.getTime() / 1000),
                sig.r,
                sig.yParityAndS,
              ],
              at,
              note,
            );
          },
        );
      }
      return run<WorkOrder>(
        {
          t: "confirmWorkOrder",
          workOrderId: p.workOrderId,
          by: p.by,
          ...(p.evidenceHash === undefined ? {} : { evidenceHash: p.evidenceHash }),
        },
        (_wo, at, note) =>
          workOrderStep(p.workOrderId, p.by, "confirm", [p.evidenceHash ?? ZeroHash], at, note),
      );
    },

    cancelWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "cancelWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "cancel", [], at, note),
      );
    },

    disputeWorkOrder({ workOrderId, reasonHash, by }) {
      return run<WorkOrder>(
        { t: "disputeWorkOrder", workOrderId, reasonHash, by },
        (_wo, at, note) => workOrderStep(workOrderId, by, "dispute", [reasonHash], at, note),
      );
    },

    resolveDispute({ workOrderId, toProvider, by }) {
      return run<WorkOrder>(
        { t: "resolveDispute", workOrderId, toProvider: amountString(toProvider), by },
        (wo, at, note) =>
          workOrderStep(
            workOrderId,
            by,
            "resolve",
            [units(toProvider, wo.currency.decimals)],
            at,
            note,
          ),
      );
    },

    expireWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "expireWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "expire", [], at, note),
      );
    },

    getWorkOrder: (workOrderId) => read(() => core.workOrder(workOrderId)),

    async close() {
      await tail;
      if (closed) return;
      closed = true;
      live.complete();
    },
  };
  return ledger;
}

/** Blocks per `eth_getLogs` call when rebuilding from the chain. */
const LOG_RANGE = 10_000;

/** An amount as the ledger's commands carry it (the embedded ledger's form). */
function amountString(amount: Decimal): string {
  try {
    return decimalToString(toDecimal(amount, "amount"));
  } catch {
    throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
      amount: String(amount),
    });
  }
}

const erc20Abi = [
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 value) returns (bool)",
];

async function deployContract(
  runner: Signer,
  abi: readonly unknown[],
  bytecode: string,
  ...args: unknown[]
): Promise<string> {
  const factory = new ContractFactory(abi as InterfaceAbi, bytecode, runner);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  return getAddress(await contract.getAddress());
}

/** A 9-decimal fixed-point value as the canonical decimal string of a record's JSON form ("1000", not "1000.0"). */
function fixed9(value: bigint): string {
  return formatUnits(value, 9).replace(/\.0$/, "");
}
