import { decimalToString, toDecimal, ZERO_ADDRESS } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { recoverConditionCleared } from "../conditionCleared.js";
import type { WorkOrder } from "../ledger.js";
import { ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import {
  type Command,
  checksum,
  HEX32,
  iso,
  type Outcome,
  type RulesState,
  sameAddress,
  secondsFloor,
  type WorkOrderEntry,
  ZERO_HASH,
} from "./state.js";
import {
  type WorkOrderTermsJson,
  workOrderTermsFromJson,
  workOrderTermsToJson,
} from "./workOrderTerms.js";
export function openWorkOrder(
  core: RulesState,
  json: WorkOrderTermsJson,
  at: Date,
  stamp: string,
): Outcome {
  const terms = workOrderTermsFromJson(json);
  const canonical = JSON.stringify(workOrderTermsToJson(terms));
  const existing = core.workOrders.get(terms.workOrderId);
  if (existing !== undefined) {
    if (existing.canonical !== canonical) {
      throw ledgerError("settlement.workOrder.conflict", "A work order with this id exists", {
        workOrderId: terms.workOrderId,
      });
    }
    return {
      result: { status: "duplicate", workOrder: workOrderOf(core, terms.workOrderId) },
      events: [],
      changed: false,
    };
  }
  const problems: string[] = [];
  const zero = ZERO_ADDRESS.toLowerCase();
  if (sameAddress(terms.provider, zero) || sameAddress(terms.provider, terms.customer)) {
    problems.push("provider");
  }
  if (
    sameAddress(terms.arbiter, zero) ||
    sameAddress(terms.arbiter, terms.customer) ||
    sameAddress(terms.arbiter, terms.provider)
  ) {
    problems.push("arbiter");
  }
  if (!terms.amount.gt(0) || terms.amount.decimalPlaces() > terms.currency.decimals) {
    problems.push("amount");
  }
  if (
    terms.acceptBy.getTime() <= secondsFloor(at) ||
    terms.completeBy.getTime() < terms.acceptBy.getTime()
  ) {
    problems.push("deadlines");
  }
  if (problems.length > 0) {
    throw ledgerError(
      "settlement.workOrder.invalid",
      `Invalid work-order terms: ${problems.join(", ")}`,
      {
        workOrderId: terms.workOrderId,
        problems,
      },
    );
  }
  core.workOrders.set(terms.workOrderId, {
    terms,
    canonical,
    status: "open",
    proofHash: null,
    paidBy: null,
  });
  const j = workOrderTermsToJson(terms);
  return {
    result: { status: "opened", workOrder: workOrderOf(core, terms.workOrderId) },
    events: [
      {
        type: "WorkOrderOpened",
        at: stamp,
        workOrderId: j.workOrderId,
        customer: j.customer,
        provider: j.provider,
        arbiter: j.arbiter,
        funder: j.funder,
        machineSigner: j.machineSigner,
        amount: j.amount,
        currency: j.currency.symbol,
        acceptBy: j.acceptBy,
        completeBy: j.completeBy,
        conditionHash: j.conditionHash,
      },
    ],
    changed: true,
  };
}

export function workOrderOf(core: RulesState, workOrderId: string): WorkOrder {
  const w = core.workOrders.get(workOrderId);
  if (w === undefined) {
    throw ledgerError("settlement.workOrder.notFound", "No such work order", { workOrderId });
  }
  return { ...w.terms, status: w.status, proofHash: w.proofHash };
}

type WorkOrderCommand = Exclude<Extract<Command, { workOrderId: string }>, { t: "openWorkOrder" }>;
type Role = "customer" | "provider" | "arbiter" | "funder";

/** What a transition's step sees: the command, the work order, the instant, error makers. */
interface Step<C> {
  readonly core: RulesState;
  readonly cmd: C;
  readonly w: WorkOrderEntry;
  readonly id: string;
  readonly stamp: string;
  /** The instant floored to the second, in ms. */
  readonly now: number;
  readonly trusted: boolean;
  /** The escrowed amount as a decimal string. */
  readonly amount: string;
  deny(by: string | undefined): Error;
  wrongState(): Error;
}

/**
 * One work-order transition. The checks run in this order, before anything changes:
 * `by` (else `unauthorized`), `from` (else `invalidState`), `before` (else `deadlinePassed`),
 * then the step, which may check more, sets the new status and returns the events.
 */
interface Transition<C> {
  /** The parties that may send the command; absent: the step decides. */
  readonly by?: readonly Role[];
  /** The states the command applies in; absent: the step decides. */
  readonly from?: readonly WorkOrder["status"][];
  /** The deadline the command must not come after. */
  readonly before?: "acceptBy" | "completeBy";
  readonly step: (s: Step<C>) => LedgerEvent[];
}

type Transitions = {
  readonly [K in WorkOrderCommand["t"]]: Transition<Extract<WorkOrderCommand, { t: K }>>;
};

/** The work-order state machine, one row per command. */
const TRANSITIONS: Transitions = {
  fundWorkOrder: {
    by: ["customer", "funder"],
    from: ["open"],
    before: "acceptBy",
    step: ({ cmd, w, id, stamp, amount }) => {
      w.status = "funded";
      w.paidBy = checksum(cmd.by);
      return [
        { type: "WorkOrderFunded", at: stamp, workOrderId: id, from: checksum(cmd.by), amount },
      ];
    },
  },
  acceptWorkOrder: {
    by: ["provider"],
    from: ["funded"],
    before: "acceptBy",
    step: ({ w, id, stamp }) => {
      w.status = "accepted";
      return [
        {
          type: "WorkOrderAccepted",
          at: stamp,
          workOrderId: id,
          provider: checksum(w.terms.provider),
        },
      ];
    },
  },
  completeWorkOrder: {
    by: ["provider"],
    from: ["accepted"],
    before: "completeBy",
    step: ({ cmd, w, id, stamp }) => {
      if (!HEX32.test(cmd.proofHash) || cmd.proofHash === ZERO_HASH) {
        throw ledgerError(
          "settlement.workOrder.badProof",
          "The proof hash must be a non-zero bytes32",
          {
            workOrderId: id,
          },
        );
      }
      w.status = "completed";
      w.proofHash = cmd.proofHash;
      return [
        {
          type: "WorkOrderCompleted",
          at: stamp,
          workOrderId: id,
          provider: checksum(w.terms.provider),
          proofHash: cmd.proofHash,
        },
      ];
    },
  },
  confirmWorkOrder: { step: confirm },
  cancelWorkOrder: {
    by: ["customer", "provider"],
    from: ["open", "funded"],
    step: ({ cmd, w, id, stamp, amount }) => {
      const cancelled: LedgerEvent = {
        type: "WorkOrderCancelled",
        at: stamp,
        workOrderId: id,
        by: checksum(cmd.by),
      };
      if (w.status === "open") {
        w.status = "cancelled";
        return [cancelled];
      }
      w.status = "refunded";
      return [cancelled, refunded(w, id, stamp, amount)];
    },
  },
  expireWorkOrder: {
    by: ["customer", "arbiter"],
    from: ["open", "funded", "accepted"],
    step: ({ cmd, w, id, stamp, now, amount }) => {
      const deadline = w.status === "accepted" ? w.terms.completeBy : w.terms.acceptBy;
      if (now <= deadline.getTime()) {
        throw ledgerError(
          "settlement.workOrder.deadlineNotReached",
          "The deadline has not passed",
          {
            workOrderId: id,
            deadline: iso(deadline),
          },
        );
      }
      if (w.status === "open") {
        w.status = "cancelled";
        return [{ type: "WorkOrderCancelled", at: stamp, workOrderId: id, by: checksum(cmd.by) }];
      }
      w.status = "refunded";
      return [refunded(w, id, stamp, amount)];
    },
  },
  disputeWorkOrder: {
    by: ["customer", "provider"],
    from: ["accepted", "completed"],
    step: ({ cmd, w, id, stamp }) => {
      if (!HEX32.test(cmd.reasonHash)) {
        throw ledgerError("settlement.workOrder.invalid", "reasonHash must be bytes32", {
          workOrderId: id,
        });
      }
      w.status = "disputed";
      return [
        {
          type: "WorkOrderDisputed",
          at: stamp,
          workOrderId: id,
          by: checksum(cmd.by),
          reasonHash: cmd.reasonHash,
        },
      ];
    },
  },
  resolveDispute: {
    by: ["arbiter"],
    from: ["disputed"],
    step: ({ cmd, w, id, stamp }) => {
      const t = w.terms;
      let toProvider: Decimal;
      try {
        toProvider = toDecimal(cmd.toProvider, "toProvider");
      } catch {
        toProvider = toDecimal(-1);
      }
      if (
        toProvider.isNegative() ||
        toProvider.gt(t.amount) ||
        toProvider.decimalPlaces() > t.currency.decimals
      ) {
        throw ledgerError(
          "settlement.workOrder.invalid",
          "The split must lie between 0 and the amount",
          {
            workOrderId: id,
            toProvider: cmd.toProvider,
          },
        );
      }
      w.status = "resolved";
      return [
        {
          type: "WorkOrderResolved",
          at: stamp,
          workOrderId: id,
          arbiter: checksum(t.arbiter),
          toProvider: decimalToString(toProvider),
          toCustomer: decimalToString(t.amount.minus(toProvider)),
          refundTo: w.paidBy ?? checksum(t.customer),
        },
      ];
    },
  },
};

/** The escrow goes back to whoever paid it in (the customer if nobody did). */
function refunded(w: WorkOrderEntry, id: string, stamp: string, amount: string): LedgerEvent {
  return {
    type: "WorkOrderRefunded",
    at: stamp,
    workOrderId: id,
    customer: checksum(w.terms.customer),
    to: w.paidBy ?? checksum(w.terms.customer),
    amount,
  };
}

/**
 * Confirmation releases the escrow: either the customer confirms, or the machine's key
 * attests the condition cleared (a signed `ConditionCleared`, checked unless trusted).
 */
function confirm(s: Step<Extract<WorkOrderCommand, { t: "confirmWorkOrder" }>>): LedgerEvent[] {
  const { cmd, w, id, stamp } = s;
  const t = w.terms;
  let by: string;
  let evidenceHash: string;
  let clearedAt: string;
  if (cmd.signature !== undefined) {
    if (w.status !== "completed") throw s.wrongState();
    if (t.machineSigner === undefined) throw s.deny(undefined);
    evidenceHash = cmd.evidenceHash ?? "";
    const cleared = new Date(cmd.clearedAt ?? "");
    if (!HEX32.test(evidenceHash) || Number.isNaN(cleared.getTime())) {
      throw ledgerError("settlement.workOrder.badProof", "The attestation is malformed", {
        workOrderId: id,
      });
    }
    if (!s.trusted) {
      const signer = recoverConditionCleared(
        s.core.domain,
        { workOrderId: id, conditionHash: t.conditionHash, evidenceHash, clearedAt: cleared },
        cmd.signature,
      );
      if (signer === null || !sameAddress(signer, t.machineSigner)) {
        throw ledgerError(
          "settlement.workOrder.badProof",
          "The attestation is not signed by the machine's key",
          { workOrderId: id, signer },
        );
      }
    }
    by = checksum(t.machineSigner);
    clearedAt = iso(cleared);
  } else {
    if (!sameAddress(cmd.by ?? "", t.customer)) throw s.deny(cmd.by);
    if (w.status !== "completed") throw s.wrongState();
    by = checksum(t.customer);
    evidenceHash = cmd.evidenceHash ?? ZERO_HASH;
    if (!HEX32.test(evidenceHash)) {
      throw ledgerError("settlement.workOrder.badProof", "evidenceHash must be bytes32", {
        workOrderId: id,
      });
    }
    clearedAt = stamp;
  }
  w.status = "released";
  return [
    { type: "WorkOrderConfirmed", at: stamp, workOrderId: id, by, evidenceHash, clearedAt },
    {
      type: "WorkOrderReleased",
      at: stamp,
      workOrderId: id,
      provider: checksum(t.provider),
      amount: s.amount,
    },
  ];
}

/** Applies a work-order command (any but `openWorkOrder`) by its row in the table. */
export function workOrderCommand(
  core: RulesState,
  cmd: Command,
  at: Date,
  stamp: string,
  trusted: boolean,
): Outcome {
  if (!("workOrderId" in cmd) || !Object.hasOwn(TRANSITIONS, cmd.t)) {
    throw new Error(`unknown command ${(cmd as { t: string }).t}`);
  }
  const c = cmd as WorkOrderCommand;
  const id = c.workOrderId;
  const w = core.workOrders.get(id);
  if (w === undefined) {
    throw ledgerError("settlement.workOrder.notFound", "No such work order", { workOrderId: id });
  }
  const row = TRANSITIONS[c.t] as Transition<WorkOrderCommand>;
  const deny = (by: string | undefined) =>
    ledgerError("settlement.workOrder.unauthorized", "This party may not do that", {
      workOrderId: id,
      by: by ?? null,
    });
  const wrongState = () =>
    ledgerError("settlement.workOrder.invalidState", `The work order is ${w.status}`, {
      workOrderId: id,
      status: w.status,
    });
  const now = secondsFloor(at);
  if (row.by !== undefined) {
    const by = "by" in c ? c.by : undefined;
    const party = (role: Role) => w.terms[role];
    if (!row.by.some((role) => party(role) !== undefined && sameAddress(by ?? "", party(role)!))) {
      throw deny(by);
    }
  }
  if (row.from !== undefined && !row.from.includes(w.status)) throw wrongState();
  if (row.before !== undefined) {
    const deadline = w.terms[row.before];
    if (now > deadline.getTime()) {
      throw ledgerError("settlement.workOrder.deadlinePassed", "The deadline has passed", {
        workOrderId: id,
        deadline: iso(deadline),
      });
    }
  }
  const events = row.step({
    core,
    cmd: c,
    w,
    id,
    stamp,
    now,
    trusted,
    amount: decimalToString(w.terms.amount),
    deny,
    wrongState,
  });
  return { result: workOrderOf(core, id), events, changed: true };
}
