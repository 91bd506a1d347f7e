import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import {
  type CompletionProof,
  createWorkOrderManager,
  intervalTrigger,
  type MaintenanceAdvisory,
  type MaintenanceHistory,
  type MaintenanceWorkOrder,
  openMaintenanceHistory,
  type ServiceAgreement,
  type ServiceRequest,
  serviceRequests,
  thresholdTrigger,
  type WorkOrderManager,
} from "@maaskit/maintenance";
import type { Reading } from "@maaskit/metering";
import type { LedgerBackend, LedgerDomain } from "@maaskit/settlement";
import type { Wallet } from "ethers";
import { concatMap, filter, from, merge, type Observable, type Subscription, share } from "rxjs";
import type { GatewayLogEvent } from "./gateway.js";

/** How the gateway watches the machine and which work it orders. */
export interface MaintenancePlan {
  /** Air-filter differential pressure limit (bar) with hysteresis and minimum duration. */
  readonly filter: { channel: string; above: string; clearAt: string; minDurationMs: number };
  /** Oil change / general service every N run hours or M months. */
  readonly service: { channel: string; runHours: string; months: number; preAlertAt?: string };
}

export interface GatewayMaintenance {
  readonly history: MaintenanceHistory;
  readonly orders: WorkOrderManager;
  readonly advisories: readonly MaintenanceAdvisory[];
  stop(): Promise<void>;
}

/**
 * Machine-controlled maintenance in the gateway: triggers over the readings raise service
 * requests (one per open condition); each becomes a work order funded in escrow on the
 * ledger, accepted and completed by the provider, confirmed by the machine's own signed
 * "condition cleared" once its data shows it (or by the customer for interval services),
 * and paid — every step in the signed maintenance history.
 *
 * `technician` stands in for the provider's field service: it does the work (in the demo it
 * services the simulated compressor) and returns the completion proof.
 */
export async function startMaintenance(p: {
  readings$: Observable<Reading>;
  ledger: LedgerBackend;
  agreement: ServiceAgreement;
  plan: MaintenancePlan;
  machineId: string;
  signer: Wallet;
  dataDir: string;
  /** The digest of the latest meter record: the evidence a machine confirmation names. */
  evidence: () => string;
  /** The EIP-712 domain the ledger checks work-order attestations under. */
  ledgerDomain: LedgerDomain;
  technician: (wo: MaintenanceWorkOrder) => Promise<CompletionProof>;
  clock: { now(): Date };
  log: (e: GatewayLogEvent) => void;
}): Promise<GatewayMaintenance> {
  // The history is a SQLite database; a JSON Lines history of earlier versions is migrated
  // into it at first open (and kept as history.db.migrated).
  const file = join(p.dataDir, "history.db");
  const legacy = join(p.dataDir, "history.jsonl");
  if (!existsSync(file) && existsSync(legacy)) renameSync(legacy, file);
  const history = await openMaintenanceHistory({ machineId: p.machineId, signer: p.signer, file });
  if (Object.keys(history.recovery).length > 0) {
    p.log({ event: "storage.recovered", store: "maintenance", ...history.recovery });
  }
  const orders = createWorkOrderManager({
    ledger: p.ledger,
    history,
    agreement: p.agreement,
    ledgerDomain: p.ledgerDomain,
    machineSigner: p.signer,
    clock: p.clock,
  });
  const advisories: MaintenanceAdvisory[] = [];
  const trigger$ = merge(
    p.readings$.pipe(
      thresholdTrigger({
        machineId: p.machineId,
        conditionId: "air-filter",
        serviceType: "airFilterChange",
        channel: p.plan.filter.channel,
        above: p.plan.filter.above,
        clearAt: p.plan.filter.clearAt,
        minDurationMs: p.plan.filter.minDurationMs,
      }),
    ),
    p.readings$.pipe(
      intervalTrigger({
        machineId: p.machineId,
        conditionId: "service",
        serviceType: "oilAndSeparatorService",
        channels: { runHours: p.plan.service.channel },
        every: { runHours: p.plan.service.runHours, months: p.plan.service.months },
        ...(p.plan.service.preAlertAt ? { preAlertAt: p.plan.service.preAlertAt } : {}),
      }),
    ),
  ).pipe(share());

  const subs: Subscription[] = [];
  let work: Promise<unknown> = Promise.resolve();
  const waitingForClear = new Map<string, MaintenanceWorkOrder>();

  // Source errors end the triggers too; the gateway reports them (its metering pipeline sees
  // the same error), so here they only stop the subscription.
  const ignoreError = () => undefined;
  subs.push(
    trigger$.subscribe({
      error: ignoreError,
      next: (a) => {
        advisories.push(a);
        p.log({
          event: "maintenance.advisory",
          condition: a.conditionId,
          severity: a.severity,
          code: a.errorCode,
          at: a.at.toISOString(),
        });
        if (a.severity === "cleared") {
          const wo = [...waitingForClear.values()].find(
            (w) => w.request.conditionId === a.conditionId,
          );
          if (wo) {
            waitingForClear.delete(wo.id);
            work = work
              .then(() => confirm(wo, a.at))
              .catch((err) => p.log({ event: "maintenance.error", error: String(err) }));
          }
        }
      },
    }),
  );
  subs.push(
    merge(trigger$, orders.servicePerformed$)
      .pipe(
        serviceRequests(),
        filter((r): r is ServiceRequest => r.kind === "serviceRequest"),
        concatMap((sr) => {
          work = work
            .then(() => handle(sr))
            .catch((err) => p.log({ event: "maintenance.error", error: String(err) }));
          return from(work);
        }),
      )
      .subscribe({ error: ignoreError }),
  );

  async function handle(sr: ServiceRequest) {
    p.log({
      event: "maintenance.request",
      id: sr.id,
      serviceType: sr.serviceType,
      priority: sr.priority,
    });
    await orders.request(sr);
    await orders.quote(sr.id);
    await orders.fund(sr.id, p.agreement.customer);
    await orders.accept(sr.id, p.agreement.provider);
    await orders.start(sr.id, p.agreement.provider);
    const proof = await p.technician(orders.get(sr.id));
    const done = await orders.complete(sr.id, p.agreement.provider, proof);
    p.log({ event: "workOrder.completed", id: sr.id, proofHash: done.proofHash });
    if (sr.conditionId === "air-filter") {
      // The machine confirms once its own data shows the filter differential pressure cleared.
      waitingForClear.set(sr.id, done);
    } else {
      const paid = await orders.confirmByCustomer(sr.id, p.agreement.customer);
      p.log({
        event: "workOrder.paid",
        id: sr.id,
        amount: paid.amount?.toFixed(),
        by: "customer confirmation",
      });
    }
  }

  async function confirm(wo: MaintenanceWorkOrder, at: Date) {
    const paid = await orders.confirmByMachine(wo.id, { hash: p.evidence(), at });
    p.log({
      event: "workOrder.paid",
      id: wo.id,
      amount: paid.amount?.toFixed(),
      by: "machine confirmation",
    });
  }

  return {
    history,
    orders,
    advisories,
    async stop() {
      for (const s of subs) s.unsubscribe();
      await work.catch(() => undefined);
      await history.close();
    },
  };
}
