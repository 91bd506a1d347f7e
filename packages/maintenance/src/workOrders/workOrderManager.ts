import { canonicalJson, MaaskitError } from "@maaskit/metering";
import {
  type Hex32,
  type LedgerBackend,
  type LedgerDomain,
  type WorkOrder as LedgerWorkOrder,
  signConditionCleared,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import type { Signer } from "ethers";
import { id as keccakUtf8 } from "ethers/hash";
import { type Observable, Subject } from "rxjs";
import type { MaintenanceHistory } from "../history/maintenanceHistory.js";
import type { ServiceRequest } from "../requests/serviceRequest.js";
import type { ServicePerformedEvent } from "../triggers/advisory.js";
import type { ServiceAgreement } from "./serviceAgreement.js";
import { assertTransition, type WorkOrderState } from "./workOrderState.js";

/** A work order as maintenance tracks it: the request, the state machine, the ledger id. */
export interface MaintenanceWorkOrder {
  /** The service request id this work order fulfils. */
  readonly id: string;
  /** The 32-byte id on the ledger: `keccak256(utf8(id))`. */
  readonly ledgerId: Hex32;
  readonly request: ServiceRequest;
  readonly state: WorkOrderState;
  readonly amount?: Decimal;
  /** `keccak256(utf8("<machineId>/<conditionId>"))`: what the machine attests as cleared. */
  readonly conditionHash: Hex32;
  readonly proofHash?: Hex32;
  readonly transitions: readonly { readonly state: WorkOrderState; readonly at: string }[];
}

/** What the provider reports at completion; hashed into the ledger's proof. */
export interface CompletionProof {
  readonly report: string;
  readonly partsUsed?: readonly string[];
  /** Run hours at service (decimal string) — the warranty check reads it from the history. */
  readonly runHours?: string;
  readonly loadedHours?: string;
  readonly technician?: string;
}

export interface WorkOrderManager {
  /** Work orders by service request id. */
  get(id: string): MaintenanceWorkOrder;
  list(): readonly MaintenanceWorkOrder[];
  /** Takes a machine's service request in (state `requested`). Idempotent by request id. */
  request(sr: ServiceRequest): Promise<MaintenanceWorkOrder>;
  /** Prices it from the service agreement, or from an explicit quote (state `quoted`). */
  quote(id: string, amount?: Decimal): Promise<MaintenanceWorkOrder>;
  /** Opens the escrow on the ledger and pays it in (customer or funder; state `funded`). */
  fund(id: string, by: string): Promise<MaintenanceWorkOrder>;
  accept(id: string, by: string): Promise<MaintenanceWorkOrder>;
  start(id: string, by: string): Promise<MaintenanceWorkOrder>;
  complete(id: string, by: string, proof: CompletionProof): Promise<MaintenanceWorkOrder>;
  /** The machine's data shows the condition cleared: signs `ConditionCleared`, payment is released. */
  confirmByMachine(id: string, evidence: { hash: Hex32; at: Date }): Promise<MaintenanceWorkOrder>;
  /** The customer confirms the work; payment is released. */
  confirmByCustomer(id: string, by: string): Promise<MaintenanceWorkOrder>;
  dispute(id: string, by: string, reason: string): Promise<MaintenanceWorkOrder>;
  resolve(id: string, by: string, toProvider: Decimal): Promise<MaintenanceWorkOrder>;
  /** After a missed deadline: the escrow goes back to the customer. */
  expire(id: string, by: string): Promise<MaintenanceWorkOrder>;
  cancel(id: string, by: string): Promise<MaintenanceWorkOrder>;
  /** One event per paid work order, for the triggers to restart their intervals. */
  readonly servicePerformed$: Observable<ServicePerformedEvent>;
}

/**
 * Drives work orders through their life on any `LedgerBackend` (so it works on every backend
 * that passes the conformance suite): each transition is one ledger call where money moves,
 * and every step is appended to the machine's signed maintenance history.
 *
 * @example
 * const orders = createWorkOrderManager({ ledger, history, agreement, ledgerDomain, machineSigner, clock })
 * const wo = await orders.request(serviceRequest)
 * await orders.quote(wo.id); await orders.fund(wo.id, customer); await orders.accept(wo.id, provider)
 * await orders.complete(wo.id, provider, { report: "filter replaced", partsUsed: ["filter"] })
 * await orders.confirmByMachine(wo.id, { hash: recordDigest, at })
 */
export function createWorkOrderManager(options: {
  ledger: LedgerBackend;
  history: MaintenanceHistory;
  agreement: ServiceAgreement;
  /** The domain the ledger verifies work-order attestations under. */
  ledgerDomain: LedgerDomain;
  /** The machine's key, for `confirmByMachine`. */
  machineSigner?: Signer;
  clock?: { now(): Date };
}): WorkOrderManager {
  const { ledger, history, agreement } = options;
  const clock = options.clock ?? { now: () => new Date() };
  const orders = new Map<string, MaintenanceWorkOrder>();
  const performed = new Subject<ServicePerformedEvent>();

  const get = (id: string) => {
    const wo = orders.get(id);
    if (!wo) {
      throw new MaaskitError("maintenance.workOrder.notFound", `No work order ${id}`, {
        details: { id },
      });
    }
    return wo;
  };
  const move = async (
    id: string,
    to: WorkOrderState,
    payload: Record<string, unknown>,
    patch: Partial<MaintenanceWorkOrder> = {},
  ) => {
    const wo = get(id);
    assertTransition(id, wo.state, to);
    const at = clock.now();
    const next: MaintenanceWorkOrder = {
      ...wo,
      ...patch,
      state: to,
      transitions: [...wo.transitions, { state: to, at: at.toISOString() }],
    };
    orders.set(id, next);
    await history.append(`workOrder.${to}`, at, { workOrderId: id, ...payload });
    return next;
  };
  const afterRelease = async (id: string, onLedger: LedgerWorkOrder) => {
    if (onLedger.status !== "released") return get(id);
    const paid = await move(id, "paid", {
      amount: onLedger.amount.toFixed(),
      currency: agreement.currency.symbol,
      provider: onLedger.provider,
    });
    const at = clock.now();
    const proof = completions.get(id);
    await history.append("service.performed", at, {
      serviceType: paid.request.serviceType,
      conditionId: paid.request.conditionId,
      workOrderId: id,
      ...(proof?.runHours ? { runHours: proof.runHours } : {}),
      ...(proof?.loadedHours ? { loadedHours: proof.loadedHours } : {}),
      ...(proof?.partsUsed ? { partsUsed: proof.partsUsed } : {}),
      provider: agreement.provider,
    });
    const registers: Record<string, string> = {};
    if (proof?.runHours) registers.runHours = proof.runHours;
    if (proof?.loadedHours) registers.loadedHours = proof.loadedHours;
    performed.next({
      kind: "servicePerformed",
      machineId: paid.request.assetId,
      conditionId: paid.request.conditionId,
      at,
      registers,
    });
    return paid;
  };
  const completions = new Map<string, CompletionProof>();

  return {
    get,
    list: () => [...orders.values()],
    servicePerformed$: performed.asObservable(),
    async request(sr) {
      const existing = orders.get(sr.id);
      if (existing) return existing;
      if (sr.assetId !== agreement.machineId) {
        throw new MaaskitError(
          "maintenance.workOrder.wrongMachine",
          `Service request for ${sr.assetId} under the agreement of ${agreement.machineId}`,
          { details: { requestId: sr.id } },
        );
      }
      const at = clock.now();
      const wo: MaintenanceWorkOrder = {
        id: sr.id,
        ledgerId: keccakUtf8(sr.id),
        request: sr,
        state: "requested",
        conditionHash: keccakUtf8(`${sr.assetId}/${sr.conditionId}`),
        transitions: [{ state: "requested", at: at.toISOString() }],
      };
      orders.set(sr.id, wo);
      await history.append("serviceRequest", at, {
        id: sr.id,
        conditionId: sr.conditionId,
        serviceType: sr.serviceType,
        priority: sr.priority,
        faultStart: sr.faultStart.toISOString(),
        errorCode: sr.errorCode,
        description: sr.description,
        readings: sr.triggeringReadings.map((r) => ({
          channel: r.channel,
          value: String(r.value),
          unit: r.unit,
          at: r.sourceTime.toISOString(),
        })),
      });
      return wo;
    },
    async quote(id, amount) {
      const wo = get(id);
      const price = amount ?? agreement.prices[wo.request.serviceType];
      if (!price) {
        throw new MaaskitError(
          "maintenance.workOrder.needsQuote",
          `No price for ${wo.request.serviceType} in service agreement ${agreement.id}: quote one`,
          { details: { id, serviceType: wo.request.serviceType } },
        );
      }
      return move(
        id,
        "quoted",
        { amount: price.toFixed(), currency: agreement.currency.symbol },
        { amount: price },
      );
    },
    async fund(id, by) {
      const wo = get(id);
      assertTransition(id, wo.state, "funded");
      const now = clock.now();
      const requested = new Date(wo.transitions[0]!.at);
      await ledger.openWorkOrder({
        workOrderId: wo.ledgerId,
        customer: agreement.customer,
        provider: agreement.provider,
        arbiter: agreement.arbiter,
        ...(agreement.funder ? { funder: agreement.funder } : {}),
        ...(agreement.machineSigner ? { machineSigner: agreement.machineSigner } : {}),
        amount: wo.amount!,
        currency: agreement.currency,
        acceptBy: floorSeconds(
          new Date(Math.max(requested.getTime(), now.getTime()) + agreement.responseMs),
        ),
        completeBy: floorSeconds(
          new Date(Math.max(requested.getTime(), now.getTime()) + agreement.completionMs),
        ),
        conditionHash: wo.conditionHash,
      });
      await ledger.fundWorkOrder({ workOrderId: wo.ledgerId, by });
      return move(id, "funded", { by, ledgerId: wo.ledgerId });
    },
    async accept(id, by) {
      const wo = get(id);
      assertTransition(id, wo.state, "accepted");
      await ledger.acceptWorkOrder({ workOrderId: wo.ledgerId, by });
      return move(id, "accepted", { by });
    },
    async start(id, by) {
      if (by.toLowerCase() !== agreement.provider.toLowerCase()) {
        throw new MaaskitError(
          "maintenance.workOrder.unauthorized",
          "Only the provider starts work",
          {
            details: { id, by },
          },
        );
      }
      return move(id, "inProgress", { by });
    },
    async complete(id, by, proof) {
      const wo = get(id);
      assertTransition(id, wo.state, "completed");
      const proofHash = keccakUtf8(canonicalJson(proof));
      await ledger.completeWorkOrder({ workOrderId: wo.ledgerId, proofHash, by });
      completions.set(id, proof);
      return move(id, "completed", { by, proofHash, proof }, { proofHash });
    },
    async confirmByMachine(id, evidence) {
      const wo = get(id);
      assertTransition(id, wo.state, "confirmed");
      if (!options.machineSigner) {
        throw new MaaskitError(
          "maintenance.workOrder.noMachineSigner",
          "No machine signer configured",
          {
            details: { id },
          },
        );
      }
      const cleared = {
        workOrderId: wo.ledgerId,
        conditionHash: wo.conditionHash,
        evidenceHash: evidence.hash,
        clearedAt: floorSeconds(evidence.at),
      };
      const signature = await signConditionCleared(
        options.machineSigner,
        options.ledgerDomain,
        cleared,
      );
      const onLedger = await ledger.confirmWorkOrder({
        workOrderId: wo.ledgerId,
        attestation: {
          evidenceHash: cleared.evidenceHash,
          clearedAt: cleared.clearedAt,
          signature,
        },
      });
      await move(id, "confirmed", {
        by: "machine",
        evidenceHash: evidence.hash,
        clearedAt: cleared.clearedAt.toISOString(),
      });
      return afterRelease(id, onLedger);
    },
    async confirmByCustomer(id, by) {
      const wo = get(id);
      assertTransition(id, wo.state, "confirmed");
      const onLedger = await ledger.confirmWorkOrder({ workOrderId: wo.ledgerId, by });
      await move(id, "confirmed", { by });
      return afterRelease(id, onLedger);
    },
    async dispute(id, by, reason) {
      const wo = get(id);
      assertTransition(id, wo.state, "disputed");
      const reasonHash = keccakUtf8(reason);
      await ledger.disputeWorkOrder({ workOrderId: wo.ledgerId, reasonHash, by });
      return move(id, "disputed", { by, reason, reasonHash });
    },
    async resolve(id, by, toProvider) {
      const wo = get(id);
      assertTransition(id, wo.state, "resolved");
      await ledger.resolveDispute({ workOrderId: wo.ledgerId, toProvider, by });
      return move(id, "resolved", { by, toProvider: toProvider.toFixed() });
    },
    async expire(id, by) {
      const wo = get(id);
      assertTransition(id, wo.state, "expired");
      if (wo.state === "quoted") return move(id, "expired", { by });
      const onLedger = await ledger.expireWorkOrder({ workOrderId: wo.ledgerId, by });
      return move(id, "expired", { by, ledgerStatus: onLedger.status });
    },
    async cancel(id, by) {
      const wo = get(id);
      assertTransition(id, wo.state, "cancelled");
      if (wo.state === "funded") await ledger.cancelWorkOrder({ workOrderId: wo.ledgerId, by });
      return move(id, "cancelled", { by });
    },
  };
}

function floorSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}
