import { decimalToString, toDecimal } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import { activeAgreement, balanceOf } from "./agreements.js";
import {
  type AgreementEntry,
  address,
  type Outcome,
  type RulesState,
  sameAddress,
} from "./state.js";
export function parseAmount(e: AgreementEntry, raw: string, field = "amount"): Decimal {
  let d: Decimal;
  try {
    d = toDecimal(raw, field);
  } catch {
    throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
      agreementId: e.agreement.agreementId,
      amount: raw,
    });
  }
  if (!d.gt(0) || d.decimalPlaces() > e.view.currency.decimals) {
    throw ledgerError(
      "settlement.funds.invalidAmount",
      `The amount must be positive with at most ${e.view.currency.decimals} decimals`,
      { agreementId: e.agreement.agreementId, amount: raw },
    );
  }
  return d;
}

/** A funds reference is scoped to its sender: another sender's use does not block it. */
export function fundsReference(
  cmd: { agreementId: string; by: string; reference?: string },
  e: AgreementEntry,
): { duplicate: boolean; key?: string } {
  if (cmd.reference === undefined) return { duplicate: false };
  const key = `${cmd.by.toLowerCase()}|${cmd.reference}`;
  return { duplicate: e.references.has(key), key };
}

export function deposit(
  core: RulesState,
  cmd: { agreementId: string; amount: string; by: string; reference?: string },
  stamp: string,
): Outcome {
  const e = activeAgreement(core, cmd.agreementId);
  const amount = parseAmount(e, cmd.amount);
  address(cmd.by, "by", "settlement.funds.unauthorized");
  const ref = fundsReference(cmd, e);
  if (ref.duplicate) {
    return {
      result: { status: "duplicate", balance: balanceOf(core, cmd.agreementId) },
      events: [],
      changed: false,
    };
  }
  if (ref.key !== undefined) e.references.add(ref.key);
  const toDue = amount.lte(e.due) ? amount : e.due;
  e.due = e.due.minus(toDue);
  e.paid = e.paid.plus(toDue);
  e.available = e.available.plus(amount.minus(toDue));
  const events: LedgerEvent[] = [
    {
      type: "FundsDeposited",
      at: stamp,
      agreementId: cmd.agreementId,
      amount: decimalToString(amount),
      appliedToDue: decimalToString(toDue),
      balance: decimalToString(e.available),
      due: decimalToString(e.due),
      ...(cmd.reference === undefined ? {} : { reference: cmd.reference }),
    },
  ];
  if (e.status === "suspended" && e.due.isZero()) {
    e.status = "active";
    events.push({ type: "AgreementResumed", at: stamp, agreementId: cmd.agreementId });
  }
  return {
    result: { status: "applied", balance: balanceOf(core, cmd.agreementId) },
    events,
    changed: true,
  };
}

export function withdraw(
  core: RulesState,
  cmd: { agreementId: string; amount: string; by: string; reference?: string },
  stamp: string,
): Outcome {
  const e = activeAgreement(core, cmd.agreementId);
  const amount = parseAmount(e, cmd.amount);
  const ref = fundsReference(cmd, e);
  if (ref.duplicate) {
    return {
      result: { status: "duplicate", balance: balanceOf(core, cmd.agreementId) },
      events: [],
      changed: false,
    };
  }
  if (!sameAddress(cmd.by, e.view.customer)) {
    throw ledgerError("settlement.funds.unauthorized", "Only the customer may withdraw", {
      agreementId: cmd.agreementId,
      by: cmd.by,
    });
  }
  if (amount.gt(e.available)) {
    throw ledgerError("settlement.funds.insufficient", "The prepaid balance is too small", {
      agreementId: cmd.agreementId,
      amount: decimalToString(amount),
      available: decimalToString(e.available),
    });
  }
  if (ref.key !== undefined) e.references.add(ref.key);
  e.available = e.available.minus(amount);
  return {
    result: { status: "applied", balance: balanceOf(core, cmd.agreementId) },
    events: [
      {
        type: "FundsWithdrawn",
        at: stamp,
        agreementId: cmd.agreementId,
        amount: decimalToString(amount),
        balance: decimalToString(e.available),
        ...(cmd.reference === undefined ? {} : { reference: cmd.reference }),
      },
    ],
    changed: true,
  };
}
