import { toDecimal } from "@maaskit/metering";
import { type Agreement, agreementToJson, parseAgreement } from "../agreement.js";
import type { AgreementState, Balance, RecordsHead } from "../ledger.js";
import { ledgerError } from "../ledgerErrors.js";
import type { LedgerEvent } from "../ledgerEvents.js";
import {
  type AgreementEntry,
  agreementView,
  type Outcome,
  party,
  type RulesState,
  sameAddress,
  ZERO_HASH,
} from "./state.js";
/**
 * One party offers the agreement; it is `pending` until the other accepts. A command without
 * `by` (logs written before two-party consent) opens it at once, as it did then.
 */
export function openAgreement(
  core: RulesState,
  json: unknown,
  by: string | undefined,
  stamp: string,
): Outcome {
  let agreement: Agreement;
  try {
    agreement = parseAgreement(json);
  } catch (err) {
    throw ledgerError("settlement.agreement.invalid", "The agreement is invalid", {
      problems: (err as { details?: { problems?: unknown } }).details?.problems ?? String(err),
    });
  }
  const canonical = JSON.stringify(agreementToJson(agreement));
  const existing = core.agreements.get(agreement.agreementId);
  if (existing !== undefined) {
    if (existing.canonical !== canonical) {
      throw ledgerError(
        "settlement.agreement.conflict",
        "An agreement with this id and other terms is already open",
        { agreementId: agreement.agreementId },
      );
    }
    return {
      result: { status: "duplicate", recordDomain: core.domain },
      events: [],
      changed: false,
    };
  }
  const view = agreementView(agreement);
  if (by !== undefined && !sameAddress(by, view.provider) && !sameAddress(by, view.customer)) {
    throw ledgerError(
      "settlement.agreement.unauthorized",
      "Only the provider or the customer may offer an agreement",
      { agreementId: agreement.agreementId, by },
    );
  }
  if (agreement.status === "terminated") {
    throw ledgerError("settlement.agreement.notActive", "A terminated agreement cannot be opened", {
      agreementId: agreement.agreementId,
    });
  }
  const active = agreement.status === "suspended" ? "suspended" : "active";
  core.agreements.set(agreement.agreementId, {
    agreement,
    view,
    canonical,
    status: by === undefined ? active : "pending",
    offeredBy: (by ?? "").toLowerCase(),
    revoked: new Map(),
    period: null,
    records: core.recordsFor(agreement.agreementId),
    statementRanges: [],
    nextSeq: 0,
    headHash: ZERO_HASH,
    periodEnd: null,
    settled: [],
    invoices: [],
    available: toDecimal(0),
    due: toDecimal(0),
    paid: toDecimal(0),
    references: new Set(),
  });
  const opened: LedgerEvent = {
    type: "AgreementOpened",
    at: stamp,
    agreementId: agreement.agreementId,
    machineId: view.machineId,
    provider: view.provider,
    customer: view.customer,
    currency: view.currency.symbol,
  };
  return {
    result: { status: "offered", recordDomain: core.domain },
    events:
      by === undefined
        ? [opened]
        : [
            {
              type: "AgreementOffered",
              at: stamp,
              agreementId: agreement.agreementId,
              by: party(by),
            },
          ],
    changed: true,
  };
}

/** The other party accepts a pending agreement. */
export function acceptAgreement(
  core: RulesState,
  agreementId: string,
  by: string,
  stamp: string,
): Outcome {
  const e = agreementEntry(core, agreementId);
  const v = e.view;
  const isParty = sameAddress(by, v.provider) || sameAddress(by, v.customer);
  if (e.status !== "pending") {
    if (!isParty) throw unauthorized(agreementId, by, "accept");
    return { result: agreementState(core, agreementId), events: [], changed: false };
  }
  if (!isParty || sameAddress(by, e.offeredBy)) throw unauthorized(agreementId, by, "accept");
  e.status = e.agreement.status === "suspended" ? "suspended" : "active";
  return {
    result: agreementState(core, agreementId),
    events: [
      {
        type: "AgreementOpened",
        at: stamp,
        agreementId,
        machineId: v.machineId,
        provider: v.provider,
        customer: v.customer,
        currency: v.currency.symbol,
      },
    ],
    changed: true,
  };
}

/** Provider or customer revokes a record signer from the current chain head on. */
export function revokeSigner(
  core: RulesState,
  cmd: { agreementId: string; signer: string; by: string },
  stamp: string,
): Outcome {
  const e = activeAgreement(core, cmd.agreementId);
  const v = e.view;
  if (!sameAddress(cmd.by, v.provider) && !sameAddress(cmd.by, v.customer)) {
    throw unauthorized(cmd.agreementId, cmd.by, "revoke a signer of");
  }
  const signer = cmd.signer.toLowerCase();
  if (!e.agreement.signers.some((s) => sameAddress(s.address, signer)) || e.revoked.has(signer)) {
    throw ledgerError(
      "settlement.agreement.invalid",
      e.revoked.has(signer)
        ? "The signer is revoked already"
        : "The signer is not a signer of this agreement",
      { agreementId: cmd.agreementId, signer: cmd.signer },
    );
  }
  e.revoked.set(signer, e.nextSeq);
  return {
    result: agreementState(core, cmd.agreementId),
    events: [
      {
        type: "SignerRevoked",
        at: stamp,
        agreementId: cmd.agreementId,
        signer: party(cmd.signer),
        cutoffSeq: e.nextSeq,
        by: party(cmd.by),
      },
    ],
    changed: true,
  };
}

export function unauthorized(agreementId: string, by: string, what: string) {
  return ledgerError(
    "settlement.agreement.unauthorized",
    `This party may not ${what} the agreement`,
    { agreementId, by },
  );
}

/** An agreement both parties consented to (active or suspended); pending: `notActive`. */
export function activeAgreement(core: RulesState, agreementId: string): AgreementEntry {
  const e = agreementEntry(core, agreementId);
  if (e.status === "pending") {
    throw ledgerError(
      "settlement.agreement.notActive",
      "The agreement waits for the other party's acceptance",
      { agreementId },
    );
  }
  return e;
}

/** Whether `signer` may sign the record with `seq` ending at `at`. */
export function signerAllowed(e: AgreementEntry, signer: string, at: Date, seq: number): boolean {
  const cutoff = e.revoked.get(signer.toLowerCase());
  return (cutoff === undefined || seq < cutoff) && e.view.signerAllowedAt(signer, at);
}

export function agreementEntry(core: RulesState, agreementId: string): AgreementEntry {
  const entry = core.agreements.get(agreementId);
  if (entry === undefined) {
    throw ledgerError("settlement.agreement.notFound", "No such agreement on this ledger", {
      agreementId,
    });
  }
  return entry;
}

export function agreementState(core: RulesState, agreementId: string): AgreementState {
  const e = agreementEntry(core, agreementId);
  return { agreement: e.agreement, status: e.status, recordDomain: core.domain };
}

export function balanceOf(core: RulesState, agreementId: string): Balance {
  const e = agreementEntry(core, agreementId);
  return {
    agreementId,
    currency: e.view.currency,
    available: e.available,
    due: e.due,
    paidToProvider: e.paid,
  };
}

export function headOf(core: RulesState, agreementId: string): RecordsHead {
  const e = agreementEntry(core, agreementId);
  return { agreementId, nextSeq: e.nextSeq, headHash: e.headHash, periodEnd: e.periodEnd };
}
