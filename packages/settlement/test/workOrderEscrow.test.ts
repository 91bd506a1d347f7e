import { createRequire } from "node:module";
import {
  type Contract,
  type HDNodeWallet,
  id as keccakId,
  Signature,
  TypedDataEncoder,
  Wallet,
  ZeroAddress,
  ZeroHash,
} from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { workOrderKey } from "../src/ledgers/evm/evmEncoding.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import {
  workOrderEscrowAbi,
  workOrderEscrowBytecode,
} from "../src/ledgers/evm/generated/WorkOrderEscrow.js";
import { type Anvil, startAnvil } from "./anvil.js";
import { deploy, eventsOf, expectRevert, send } from "./evmTestUtils.js";

const Status = {
  None: 0n,
  Open: 1n,
  Funded: 2n,
  Accepted: 3n,
  Completed: 4n,
  Released: 5n,
  Refunded: 6n,
  Cancelled: 7n,
  Disputed: 8n,
  Resolved: 9n,
} as const;

const AMOUNT = 250_000_000n; // 250 tokens with 6 decimals
const HOUR = 3600;

let anvil: Anvil;
let token: Contract;
let escrow: Contract;
let customer: HDNodeWallet;
let provider: HDNodeWallet;
let arbiter: HDNodeWallet;
let funder: HDNodeWallet;
let stranger: HDNodeWallet;
const machine = Wallet.createRandom();
let counter = 0;

beforeAll(async () => {
  anvil = await startAnvil();
  [customer, provider, arbiter, funder, stranger] = anvil.wallets as [
    HDNodeWallet,
    HDNodeWallet,
    HDNodeWallet,
    HDNodeWallet,
    HDNodeWallet,
  ];
  token = await deploy(customer, testTokenAbi, testTokenBytecode, "Test EUR", "tEUR", 6);
  escrow = await deploy(customer, workOrderEscrowAbi, workOrderEscrowBytecode, ZeroAddress);
  for (const w of [customer, funder]) {
    await send(token, w, "mint", w.address, 10n ** 15n);
    await send(token, w, "approve", await escrow.getAddress(), 2n ** 256n - 1n);
  }
});

afterAll(async () => {
  await anvil?.stop();
});

async function now(): Promise<number> {
  const block = await anvil.provider.getBlock("latest");
  return block!.timestamp;
}

function nextId(): string {
  counter += 1;
  return keccakId(`work-order-${counter}`);
}

/** Raw work-order id of each storage key `openUntil` returned (the machine signs the id). */
const rawIds = new Map<string, string>();

/** The escrow's key of a work order opened by `by` (default: the customer). */
function keyOf(id: string, by: string = customer.address): string {
  const key = workOrderKey(by, id);
  rawIds.set(key, id);
  return key;
}

async function terms(overrides: Record<string, unknown> = {}) {
  const t = await now();
  return {
    provider: provider.address,
    arbiter: arbiter.address,
    token: await token.getAddress(),
    funder: funder.address,
    machineSigner: machine.address,
    amount: AMOUNT,
    acceptBy: t + HOUR,
    completeBy: t + 24 * HOUR,
    conditionHash: keccakId("filter dp > 0.8 bar"),
    ...overrides,
  };
}

async function status(id: string): Promise<bigint> {
  const o = await escrow.getFunction("workOrder")(id);
  return o.status as bigint;
}

async function balance(address: string): Promise<bigint> {
  return (await token.getFunction("balanceOf")(address)) as bigint;
}

/** Drives a new work order up to `until`; returns its storage key. */
async function openUntil(until: bigint, overrides: Record<string, unknown> = {}): Promise<string> {
  const raw = nextId();
  await send(escrow, customer, "open", raw, await terms(overrides));
  const id = keyOf(raw);
  if (until >= Status.Funded) await send(escrow, customer, "fund", id);
  if (until >= Status.Accepted) await send(escrow, provider, "accept", id);
  if (until >= Status.Completed) await send(escrow, provider, "complete", id, keccakId("report"));
  return id;
}

async function machineConfirmation(
  id: string,
  signer: Wallet | HDNodeWallet,
  value: Partial<{ conditionHash: string; evidenceHash: string; clearedAt: number }> = {},
) {
  const domain = {
    name: "maaskit WorkOrderEscrow",
    version: "1",
    chainId: anvil.chainId,
    verifyingContract: await escrow.getAddress(),
  };
  const types = {
    ConditionCleared: [
      { name: "workOrderId", type: "bytes32" },
      { name: "conditionHash", type: "bytes32" },
      { name: "evidenceHash", type: "bytes32" },
      { name: "clearedAt", type: "uint64" },
    ],
  };
  const message = {
    workOrderId: rawIds.get(id) ?? id,
    conditionHash: keccakId("filter dp > 0.8 bar"),
    evidenceHash: keccakId("record 42"),
    clearedAt: (await now()) - 60,
    ...value,
  };
  const sig = Signature.from(await signer.signTypedData(domain, types, message));
  return { message, r: sig.r, vs: sig.yParityAndS, domain, types };
}

describe("WorkOrderEscrow", () => {
  test("default: open → fund → accept → complete → customer confirms → provider paid", async () => {
    const raw = nextId();
    const t = await terms();
    let r = await send(escrow, customer, "open", raw, t);
    const id = keyOf(raw);
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual(["WorkOrderOpened"]);
    expect(eventsOf(escrow, r)[0]!.args).toMatchObject({
      id,
      customer: customer.address,
      provider: provider.address,
      amount: AMOUNT,
    });
    expect(await status(id)).toBe(Status.Open);

    const customerBefore = await balance(customer.address);
    r = await send(escrow, customer, "fund", id);
    expect(eventsOf(escrow, r)[0]).toMatchObject({
      name: "WorkOrderFunded",
      args: { id, from: customer.address, amount: AMOUNT },
    });
    expect(await balance(customer.address)).toBe(customerBefore - AMOUNT);
    expect(await balance(await escrow.getAddress())).toBeGreaterThanOrEqual(AMOUNT);

    r = await send(escrow, provider, "accept", id);
    expect(eventsOf(escrow, r)[0]?.name).toBe("WorkOrderAccepted");
    const proof = keccakId("service report #7");
    r = await send(escrow, provider, "complete", id, proof);
    expect(eventsOf(escrow, r)[0]).toMatchObject({
      name: "WorkOrderCompleted",
      args: { id, provider: provider.address, proofHash: proof },
    });
    expect((await escrow.getFunction("workOrder")(id)).proofHash).toBe(proof);

    const providerBefore = await balance(provider.address);
    r = await send(escrow, customer, "confirm", id, keccakId("looks good"));
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual([
      "WorkOrderConfirmed",
      "WorkOrderReleased",
    ]);
    expect(await balance(provider.address)).toBe(providerBefore + AMOUNT);
    expect(await status(id)).toBe(Status.Released);
  });

  test("behavior: a machine-signed ConditionCleared, relayed by anyone, releases the payment", async () => {
    const id = await openUntil(Status.Completed);
    const c = await machineConfirmation(id, machine);
    const digest = TypedDataEncoder.hash(c.domain, c.types, c.message);
    expect(await escrow.getFunction("domainSeparator")()).toBe(
      TypedDataEncoder.hashDomain(c.domain),
    );
    expect(digest).toMatch(/^0x/);
    const before = await balance(provider.address);
    const r = await send(
      escrow,
      stranger,
      "confirmByMachine",
      customer.address,
      rawIds.get(id),
      c.message.evidenceHash,
      c.message.clearedAt,
      c.r,
      c.vs,
    );
    expect(eventsOf(escrow, r)).toMatchObject([
      {
        name: "WorkOrderConfirmed",
        args: { id, by: machine.address, evidenceHash: c.message.evidenceHash },
      },
      { name: "WorkOrderReleased", args: { id, provider: provider.address, amount: AMOUNT } },
    ]);
    expect(await balance(provider.address)).toBe(before + AMOUNT);
    expect(await status(id)).toBe(Status.Released);
  });

  test("behavior: the named funder (e.g. an agreement contract) may fund", async () => {
    const id = await openUntil(Status.Open);
    const before = await balance(funder.address);
    const r = await send(escrow, funder, "fund", id);
    expect(eventsOf(escrow, r)[0]?.args.from).toBe(funder.address);
    expect(await balance(funder.address)).toBe(before - AMOUNT);
  });

  test("adversary: a stranger opening a customer's work-order id first takes nothing from it", async () => {
    const raw = keccakId("service-request-4711"); // predictable
    await send(escrow, stranger, "open", raw, await terms({ funder: ZeroAddress }));
    // The customer's own work order with that id opens all the same, under its own key.
    await send(escrow, customer, "open", raw, await terms());
    const mine = await escrow.getFunction("workOrder")(keyOf(raw));
    const theirs = await escrow.getFunction("workOrder")(keyOf(raw, stranger.address));
    expect(mine.customer).toBe(customer.address);
    expect(theirs.customer).toBe(stranger.address);
    await send(escrow, customer, "fund", keyOf(raw));
    expect(await status(keyOf(raw))).toBe(Status.Funded);
  });

  test("adversary: money the funder paid in is refunded to the funder, not the customer", async () => {
    const cancelled = await openUntil(Status.Open);
    await send(escrow, funder, "fund", cancelled);
    const funderBefore = await balance(funder.address);
    const customerBefore = await balance(customer.address);
    const r = await send(escrow, customer, "cancel", cancelled);
    expect(eventsOf(escrow, r)[1]).toMatchObject({
      name: "WorkOrderRefunded",
      args: { to: funder.address, amount: AMOUNT },
    });
    expect(await balance(funder.address)).toBe(funderBefore + AMOUNT);
    expect(await balance(customer.address)).toBe(customerBefore);

    // A disputed one: the arbiter's customer share goes back to the funder too.
    const disputed = await openUntil(Status.Open);
    await send(escrow, funder, "fund", disputed);
    await send(escrow, provider, "accept", disputed);
    await send(escrow, customer, "dispute", disputed, keccakId("no"));
    const before = await balance(funder.address);
    await send(escrow, arbiter, "resolve", disputed, AMOUNT / 4n);
    expect(await balance(funder.address)).toBe(before + AMOUNT - AMOUNT / 4n);
    expect(await balance(customer.address)).toBe(customerBefore);
  });

  test("behavior: cancel before acceptance — unfunded is cancelled, funded is refunded", async () => {
    const open = await openUntil(Status.Open);
    let r = await send(escrow, provider, "cancel", open);
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual(["WorkOrderCancelled"]);
    expect(await status(open)).toBe(Status.Cancelled);

    const funded = await openUntil(Status.Funded);
    const before = await balance(customer.address);
    r = await send(escrow, customer, "cancel", funded);
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual([
      "WorkOrderCancelled",
      "WorkOrderRefunded",
    ]);
    expect(await balance(customer.address)).toBe(before + AMOUNT);
    expect(await status(funded)).toBe(Status.Refunded);
  });

  test("behavior: expiry refunds after a missed deadline, never before", async () => {
    const notAccepted = await openUntil(Status.Funded);
    const notCompleted = await openUntil(Status.Accepted);
    const unfunded = await openUntil(Status.Open);
    await expectRevert(
      escrow.connect(customer).getFunction("expire")(notAccepted),
      "DeadlineNotReached",
    );
    await anvil.increaseTime(HOUR + 1);
    // Past acceptBy: accepting and funding are closed.
    await expectRevert(
      escrow.connect(provider).getFunction("accept")(notAccepted),
      "DeadlinePassed",
    );
    await expectRevert(escrow.connect(customer).getFunction("fund")(unfunded), "DeadlinePassed");
    await expectRevert(
      escrow.connect(customer).getFunction("expire")(notCompleted),
      "DeadlineNotReached",
    );

    const before = await balance(customer.address);
    let r = await send(escrow, customer, "expire", notAccepted);
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual(["WorkOrderRefunded"]);
    expect(await balance(customer.address)).toBe(before + AMOUNT);
    r = await send(escrow, arbiter, "expire", unfunded);
    expect(eventsOf(escrow, r).map((e) => e.name)).toEqual(["WorkOrderCancelled"]);

    await anvil.increaseTime(24 * HOUR);
    await expectRevert(
      escrow.connect(provider).getFunction("complete")(notCompleted, keccakId("late")),
      "DeadlinePassed",
    );
    r = await send(escrow, customer, "expire", notCompleted);
    expect(eventsOf(escrow, r)[0]).toMatchObject({
      name: "WorkOrderRefunded",
      args: { id: notCompleted, to: customer.address, amount: AMOUNT },
    });
    expect(await status(notCompleted)).toBe(Status.Refunded);
    await expectRevert(
      escrow.connect(customer).getFunction("expire")(notCompleted),
      "WrongStatus",
      [notCompleted, Status.Refunded],
    );
  });

  test("behavior: dispute → the arbiter splits the escrow", async () => {
    const id = await openUntil(Status.Completed);
    let r = await send(escrow, customer, "dispute", id, keccakId("filter still clogged"));
    expect(eventsOf(escrow, r)[0]).toMatchObject({
      name: "WorkOrderDisputed",
      args: { id, by: customer.address },
    });
    // A disputed order can no longer be confirmed, expired or cancelled.
    await expectRevert(
      escrow.connect(customer).getFunction("confirm")(id, ZeroHash),
      "WrongStatus",
    );
    await expectRevert(escrow.connect(customer).getFunction("cancel")(id), "WrongStatus");
    await expectRevert(
      escrow.connect(arbiter).getFunction("resolve")(id, AMOUNT + 1n),
      "InvalidSplit",
    );
    await expectRevert(escrow.connect(customer).getFunction("resolve")(id, 0n), "NotAuthorized");

    const p0 = await balance(provider.address);
    const c0 = await balance(customer.address);
    r = await send(escrow, arbiter, "resolve", id, 100_000_000n);
    expect(eventsOf(escrow, r)[0]).toMatchObject({
      name: "WorkOrderResolved",
      args: { id, arbiter: arbiter.address, toProvider: 100_000_000n, toCustomer: 150_000_000n },
    });
    expect(await balance(provider.address)).toBe(p0 + 100_000_000n);
    expect(await balance(customer.address)).toBe(c0 + 150_000_000n);
    expect(await status(id)).toBe(Status.Resolved);

    const accepted = await openUntil(Status.Accepted);
    await send(escrow, provider, "dispute", accepted, ZeroHash);
    expect(await status(accepted)).toBe(Status.Disputed);
  });

  describe("rejections", () => {
    test("error: every function refuses callers without the role", async () => {
      const open = await openUntil(Status.Open);
      const funded = await openUntil(Status.Funded);
      const accepted = await openUntil(Status.Accepted);
      const completed = await openUntil(Status.Completed);
      const as = (w: HDNodeWallet) => escrow.connect(w) as Contract;
      await expectRevert(as(stranger).getFunction("fund")(open), "NotAuthorized", [
        open,
        stranger.address,
      ]);
      await expectRevert(as(provider).getFunction("fund")(open), "NotAuthorized");
      await expectRevert(as(customer).getFunction("accept")(funded), "NotAuthorized");
      await expectRevert(
        as(stranger).getFunction("complete")(accepted, keccakId("x")),
        "NotAuthorized",
      );
      await expectRevert(as(provider).getFunction("confirm")(completed, ZeroHash), "NotAuthorized");
      await expectRevert(as(stranger).getFunction("cancel")(funded), "NotAuthorized");
      await expectRevert(as(provider).getFunction("expire")(funded), "NotAuthorized");
      await expectRevert(as(stranger).getFunction("dispute")(accepted, ZeroHash), "NotAuthorized");
      await expectRevert(as(arbiter).getFunction("dispute")(accepted, ZeroHash), "NotAuthorized");
      await expectRevert(as(arbiter).getFunction("resolve")(accepted, 0n), "WrongStatus");
    });

    test("error: transitions out of order are refused with the current status", async () => {
      const open = await openUntil(Status.Open);
      const funded = await openUntil(Status.Funded);
      const accepted = await openUntil(Status.Accepted);
      const as = (w: HDNodeWallet) => escrow.connect(w) as Contract;
      await expectRevert(as(provider).getFunction("accept")(open), "WrongStatus", [
        open,
        Status.Open,
      ]);
      await expectRevert(as(customer).getFunction("fund")(funded), "WrongStatus", [
        funded,
        Status.Funded,
      ]);
      await expectRevert(
        as(provider).getFunction("complete")(funded, keccakId("x")),
        "WrongStatus",
      );
      await expectRevert(as(customer).getFunction("confirm")(accepted, ZeroHash), "WrongStatus");
      await expectRevert(as(customer).getFunction("cancel")(accepted), "WrongStatus");
      await expectRevert(as(customer).getFunction("dispute")(funded, ZeroHash), "WrongStatus");
      await expectRevert(as(provider).getFunction("complete")(accepted, ZeroHash), "InvalidProof");
      await expectRevert(as(provider).getFunction("accept")(nextId()), "UnknownWorkOrder");
    });

    test("error: open validates its terms", async () => {
      const id = nextId();
      const as = escrow.connect(customer) as Contract;
      await send(escrow, customer, "open", id, await terms());
      await expectRevert(as.getFunction("open")(id, await terms()), "WorkOrderExists", [keyOf(id)]);
      const bad = async (o: Record<string, unknown>, reason: string) =>
        expectRevert(as.getFunction("open")(nextId(), await terms(o)), "InvalidTerms", [reason]);
      await bad({ provider: ZeroAddress }, "provider");
      await bad({ provider: customer.address }, "provider");
      await bad({ arbiter: provider.address }, "arbiter");
      await bad({ token: stranger.address }, "token");
      await bad({ amount: 0n }, "amount");
      await bad({ acceptBy: (await now()) - 1 }, "deadlines");
      await bad({ completeBy: (await now()) + 10 }, "deadlines");
    });

    test("error: forged, foreign or mismatched machine confirmations are refused", async () => {
      const id = await openUntil(Status.Completed);
      const call = (c: Awaited<ReturnType<typeof machineConfirmation>>, forId = id) =>
        escrow.connect(stranger).getFunction("confirmByMachine")(
          customer.address,
          rawIds.get(forId),
          c.message.evidenceHash,
          c.message.clearedAt,
          c.r,
          c.vs,
        );
      await expectRevert(
        call(await machineConfirmation(id, Wallet.createRandom())),
        "InvalidSignature",
      );
      await expectRevert(
        call(await machineConfirmation(id, machine, { conditionHash: keccakId("another") })),
        "InvalidSignature",
      );
      const good = await machineConfirmation(id, machine);
      await expectRevert(
        call({ ...good, message: { ...good.message, clearedAt: 1 } }),
        "InvalidSignature",
      );
      // A confirmation for one work order does not confirm another.
      const other = await openUntil(Status.Completed);
      await expectRevert(call(good, other), "InvalidSignature");
      expect(await status(id)).toBe(Status.Completed);

      const noMachine = await openUntil(Status.Completed, { machineSigner: ZeroAddress });
      await expectRevert(
        call(await machineConfirmation(noMachine, machine), noMachine),
        "NotAuthorized",
      );
    });

    test("error: a failing token transfer reverts the transition", async () => {
      const raw = nextId();
      await send(escrow, stranger, "open", raw, await terms({ funder: ZeroAddress }));
      const id = keyOf(raw, stranger.address);
      // The stranger has no tokens and no allowance: the token's own error surfaces.
      await expectRevert(escrow.connect(stranger).getFunction("fund")(id), "InsufficientAllowance");
      expect(await status(id)).toBe(Status.Open);
    });

    test("error: a token calling back into the escrow hits the reentrancy lock", async () => {
      const reentrant = await deployReentrantToken();
      const raw = nextId();
      await send(
        escrow,
        customer,
        "open",
        raw,
        await terms({ token: await reentrant.getAddress() }),
      );
      const id = keyOf(raw);
      await send(reentrant, customer, "mint", customer.address, AMOUNT);
      await send(escrow, customer, "fund", id);
      await send(reentrant, customer, "arm", await escrow.getAddress(), id);
      // The refund transfer re-enters `cancel`; the lock refuses it, the refund happens once.
      await send(escrow, customer, "cancel", id);
      const reentryError = (await reentrant.getFunction("lastError")()) as string;
      expect(reentryError).toBe(
        escrow.interface.getError("ReentrancyGuardReentrantCall")!.selector,
      );
      expect(await reentrant.getFunction("balanceOf")(customer.address)).toBe(AMOUNT);
      expect(await status(id)).toBe(Status.Refunded);
    });
  });
});

/** A test-only token whose `transfer` calls back into the escrow (compiled here, never shipped). */
async function deployReentrantToken(): Promise<Contract> {
  const source = `// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;
contract ReentrantToken {
  mapping(address => uint256) public balanceOf;
  address target; bytes32 id; bytes public lastError;
  function mint(address to, uint256 v) external { balanceOf[to] += v; }
  function arm(address t, bytes32 i) external { target = t; id = i; }
  function transferFrom(address f, address t, uint256 v) external returns (bool) {
    balanceOf[f] -= v; balanceOf[t] += v; return true;
  }
  function transfer(address t, uint256 v) external returns (bool) {
    balanceOf[msg.sender] -= v; balanceOf[t] += v;
    if (target != address(0)) {
      (bool ok, bytes memory err) = target.call(abi.encodeWithSignature("cancel(bytes32)", id));
      if (!ok) lastError = err;
    }
    return true;
  }
}`;
  const require = createRequire(import.meta.url);
  const solc = require("solc");
  const out = JSON.parse(
    solc.compile(
      JSON.stringify({
        language: "Solidity",
        sources: { "ReentrantToken.sol": { content: source } },
        settings: {
          evmVersion: "cancun",
          outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
        },
      }),
    ),
  );
  const artifact = out.contracts["ReentrantToken.sol"].ReentrantToken;
  return deploy(customer, artifact.abi, `0x${artifact.evm.bytecode.object}`);
}
