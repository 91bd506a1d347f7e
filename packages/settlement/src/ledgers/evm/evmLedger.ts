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
import { type Agreement, agreementToJson } from "../../agreement.js";
import { billingPeriodAt } from "../../billingPeriodAt.js";
import type { Invoice } from "../../invoice.js";
import type {
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
import { type Command, LedgerCore, workOrderTermsToJson } from "../embedded/ledgerCore.js";
import { appendCallNote, type EvmCallNote, readCallNote } from "./evmCallNote.js";
import {
  hashText,
  toAgreementInput,
  toExtrasInput,
  toRecordInput,
  toStatementInput,
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

  async function submitChain(agreementId: string, records: readonly MeterRecord[], at: Date) {
    const agreement = agreementOf(agreementId);
    const key = hashText(agreementId);
    const withExtras = agreement.tariff.sla !== undefined;
    let i = 0;
    while (i < records.length) {
      // One transaction per run of contiguous records of one channel, at most maxBatch, and
      // ending at a billing-period end when it reaches one: the contract then stores a
      // checkpoint there (the only points a period is settled between), and nowhere else.
      let j = i + 1;
      while (
        j < records.length &&
        j - i < maxBatch &&
        records[j]!.channel === records[i]!.channel &&
        !endsPeriod(agreement, records[j - 1]!)
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
      args.push(endsPeriod(agreement, run[run.length - 1]!));
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

  function settler(agreement: Agreement): Signer {
    const { provider: p, customer: c } = agreement.parties;
    return signers.get(p.toLowerCase()) ?? partySigner(c);
  }

  async function workOrderStep(
    id: string,
    by: string,
    method: string,
    args: readonly unknown[],
    at: Date,
    note: EvmCallNote,
  ) {
    await send(escrow, partySigner(by), method, [id, ...args], at, note);
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
    for (const [hash, txLogs] of byTx) {
      const tx = await provider.getTransaction(hash);
      const { data, note } = readCallNote(tx?.data ?? "0x");
      if (tx === null || note === undefined) {
        throw ledgerError(
          "settlement.ledger.unavailable",
          "A transaction on the contracts was not sent by an evmLedger (no note): the ledger cannot be rebuilt from this block",
          { hash, fromBlock },
        );
      }
      const at = new Date(note.at);
      const cmd =
        note.r === undefined ? (note.c as Command) : recordsCommand(data, note.r, ids, txLogs);
      const out = core.execute(cmd, at, true);
      if (cmd.t === "openAgreement") {
        const id = (cmd.agreement as { agreementId: string }).agreementId;
        ids.set(hashText(id), id);
      }
      if (cmd.t === "submitRecords") {
        const onChain = txLogs
          .map((l) => registry.interface.parseLog(l))
          .filter((p) => p?.name === "RecordAccepted")
          .map((p) => p!.args.recordHash as string);
        const mirrored = out.events.flatMap((e) =>
          e.type === "RecordAccepted" ? [e.recordHash] : [],
        );
        if (onChain.join() !== mirrored.join()) {
          throw ledgerError(
            "settlement.ledger.corrupt",
            "Rebuilt records differ from the chain's",
            {
              hash,
            },
          );
        }
      }
      applied.push({ cmd, at });
      history.push(...out.events);
    }
  }

  /** A record submission rebuilt from its calldata, the agreement and the call's note. */
  function recordsCommand(
    data: string,
    r: NonNullable<EvmCallNote["r"]>,
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
      const extras = r.x?.[i] ?? null;
      const json = {
        kind: "meterRecord",
        version: 1,
        agreementId,
        chainId: domain.chainId,
        verifyingContract: domain.verifyingContract,
        machineId: agreement.machineId,
        channel: r.ch,
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
    events$,

    openAgreement(agreement) {
      let input: ReturnType<typeof toAgreementInput>;
      try {
        input = toAgreementInput(agreement, tokenOf(agreement.currency, "agreement's"));
      } catch (err) {
        return Promise.reject(err);
      }
      return run<OpenAgreementResult>(
        { t: "openAgreement", agreement: agreementToJson(agreement) },
        async (_r, at, note) => {
          await send(
            registry,
            settler(agreement),
            "openAgreement",
            [agreement.agreementId, input],
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
            settler(agreementOf(agreementId)),
            "settlePeriod",
            [hashText(agreementId), period.start.getTime(), period.end.getTime()],
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
            [hashText(statement.agreementId), toStatementInput(statement)],
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
              hashText(agreementId),
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
              hashText(agreementId),
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

/** True when the record's window ends exactly at the end of its billing period. */
function endsPeriod(agreement: Agreement, record: MeterRecord): boolean {
  const end = record.periodEnd.getTime();
  return billingPeriodAt(agreement, new Date(end - 1)).end.getTime() === end;
}

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
