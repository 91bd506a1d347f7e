// Machine-controlled maintenance on the gateway: the profile's triggers over the gateway's
// readings raise service requests; each becomes a work order funded in escrow on the ledger,
// completed by the provider's technician, confirmed and paid — every step in the signed history.
import { existsSync, renameSync } from "node:fs";
import { join } from "node:path";
import {
  type CompletionProof,
  createWorkOrderManager,
  type MaintenanceAdvisory,
  type MaintenanceHistory,
  type MaintenanceWorkOrder,
  openMaintenanceHistory,
  type ServiceAgreement,
  type ServiceRequest,
  serviceRequests,
  type WorkOrderManager,
} from "@maaskit/maintenance";
import { type MeterRecord, meterRecordDigest, type Reading } from "@maaskit/metering";
import type { LedgerBackend } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import type { Signer } from "ethers";
import { concatMap, filter, from, map, merge, Observable, Subject, share } from "rxjs";
import type { Gateway } from "./gatewayTypes.js";
import type { MachineProfile } from "./machineProfile.js";
import { maintenanceAdvisories } from "./maintenanceAdvisories.js";

/** What the maintenance wiring did, for logs and dashboards. */
export type MaintenanceEvent =
  | { type: "storage.recovered"; store: "maintenance"; recovery: Readonly<Record<string, unknown>> }
  | { type: "maintenance.advisory"; advisory: MaintenanceAdvisory }
  | { type: "maintenance.request"; request: ServiceRequest }
  | { type: "workOrder.completed"; id: string; proofHash: string }
  | { type: "workOrder.paid"; id: string; amount?: Decimal; by: "machine" | "customer" }
  | { type: "maintenance.error"; error: unknown };

export interface MaintenanceWorkOrdersParameters {
  /** The gateway whose readings feed the triggers and whose last record is the evidence. */
  readonly gateway: Gateway;
  readonly ledger: LedgerBackend;
  /** Which channel feeds which trigger (`profile.maintenance`). */
  readonly profile: MachineProfile;
  /** Prices per service type: `filterChange` (the filter trigger) and `service` (the interval). */
  readonly serviceAgreement: ServiceAgreement;
  /** The machine's key: signs the maintenance history and the machine's confirmations. */
  readonly signer: Signer;
  /** The history lives in `<dataDir>/history.db`. */
  readonly dataDir: string;
  /** The provider's field service: does the work, returns the completion proof. */
  readonly technician: (wo: MaintenanceWorkOrder) => Promise<CompletionProof>;
  /** Ledger time (default: the wall clock). */
  readonly clock?: { now(): Date };
  /**
   * The gateway acts for every party — the customer funds and confirms interval services, the
   * provider accepts and completes — as in a single-operator setup (a demo, a plant running its
   * own ledger). Default false: the customer's steps are left to the customer (`orders`).
   */
  readonly actForAllParties?: boolean;
}

export interface MaintenanceWorkOrders {
  readonly history: MaintenanceHistory;
  readonly orders: WorkOrderManager;
  readonly advisories: readonly MaintenanceAdvisory[];
  readonly events$: Observable<MaintenanceEvent>;
  /** Ends the triggers, waits for the work in progress, closes the history. */
  stop(): Promise<void>;
}

/**
 * Work orders with escrow, driven by the profile's maintenance triggers (condition `filter`:
 * a threshold on its channel, confirmed by the machine itself once its own readings show the
 * condition cleared; condition `service`: run hours or months, confirmed by the customer). One
 * request per open condition (`serviceRequests`); each is requested, quoted, funded, accepted,
 * started, completed with the technician's proof, confirmed and paid, in order.
 */
export async function startMaintenanceWorkOrders(
  p: MaintenanceWorkOrdersParameters,
): Promise<MaintenanceWorkOrders> {
  const { gateway, serviceAgreement: agreement } = p;
  const events$ = new Subject<MaintenanceEvent>();
  // The history is a SQLite database; a JSON Lines history of earlier versions is migrated
  // into it at first open (and kept as history.db.migrated).
  const file = join(p.dataDir, "history.db");
  const legacy = join(p.dataDir, "history.jsonl");
  if (!existsSync(file) && existsSync(legacy)) renameSync(legacy, file);
  const history = await openMaintenanceHistory({
    machineId: agreement.machineId,
    signer: p.signer,
    file,
  });
  const recovery = { ...history.recovery };
  const orders = createWorkOrderManager({
    ledger: p.ledger,
    history,
    agreement,
    ledgerDomain: gateway.ledgerDomain,
    machineSigner: p.signer,
    ...(p.clock ? { clock: p.clock } : {}),
  });
  const advisories: MaintenanceAdvisory[] = [];
  let lastRecord: MeterRecord | undefined = gateway.journal.last();
  const readings$ = gateway.events$.pipe(
    filter((e) => {
      if (e.type === "record") lastRecord = e.record;
      return e.type === "reading";
    }),
    map((e) => (e as { reading: Reading }).reading),
  );
  const trigger$ = maintenanceAdvisories(p.profile, agreement.machineId, readings$).pipe(share());
  let work: Promise<unknown> = Promise.resolve();
  const queue = (step: () => Promise<void>) => {
    work = work.then(step).catch((error) => events$.next({ type: "maintenance.error", error }));
    return work;
  };
  const waitingForClear = new Map<string, MaintenanceWorkOrder>();
  const ignoreError = () => undefined; // the gateway's own pipeline reports source errors

  /** The last advisory per condition: a completion finds its condition cleared already. */
  const lastSeverity = new Map<string, MaintenanceAdvisory>();
  const confirmByMachine = (wo: MaintenanceWorkOrder, at: Date) =>
    queue(async () => {
      const evidence = lastRecord ? meterRecordDigest(lastRecord) : `0x${"00".repeat(32)}`;
      const paid = await orders.confirmByMachine(wo.id, { hash: evidence, at });
      events$.next({ type: "workOrder.paid", id: wo.id, by: "machine", ...amountOf(paid) });
    });
  const advisorySub = trigger$.subscribe({
    error: ignoreError,
    next: (a) => {
      advisories.push(a);
      lastSeverity.set(a.conditionId, a);
      events$.next({ type: "maintenance.advisory", advisory: a });
      if (a.severity !== "cleared") return;
      const wo = [...waitingForClear.values()].find((w) => w.request.conditionId === a.conditionId);
      if (!wo) return;
      waitingForClear.delete(wo.id);
      void confirmByMachine(wo, a.at);
    },
  });
  const requestSub = merge(trigger$, orders.servicePerformed$)
    .pipe(
      serviceRequests(),
      filter((r): r is ServiceRequest => r.kind === "serviceRequest"),
      concatMap((sr) => from(queue(() => handle(sr)))),
    )
    .subscribe({ error: ignoreError });

  async function handle(sr: ServiceRequest) {
    events$.next({ type: "maintenance.request", request: sr });
    await orders.request(sr);
    await orders.quote(sr.id);
    if (!p.actForAllParties) return;
    await orders.fund(sr.id, agreement.customer);
    await orders.accept(sr.id, agreement.provider);
    await orders.start(sr.id, agreement.provider);
    const proof = await p.technician(orders.get(sr.id));
    const done = await orders.complete(sr.id, agreement.provider, proof);
    events$.next({ type: "workOrder.completed", id: sr.id, proofHash: done.proofHash ?? "" });
    // The machine confirms a condition its own data shows cleared; an interval service is
    // confirmed by the customer.
    if (sr.conditionId === "filter") {
      const last = lastSeverity.get(sr.conditionId);
      // readings may have shown it cleared while the work order was being completed
      if (last?.severity === "cleared") void confirmByMachine(done, last.at);
      else waitingForClear.set(sr.id, done);
    } else {
      const paid = await orders.confirmByCustomer(sr.id, agreement.customer);
      events$.next({ type: "workOrder.paid", id: sr.id, by: "customer", ...amountOf(paid) });
    }
  }

  return {
    history,
    orders,
    advisories,
    events$: new Observable<MaintenanceEvent>((subscriber) => {
      if (Object.keys(recovery).length > 0)
        subscriber.next({ type: "storage.recovered", store: "maintenance", recovery });
      return events$.subscribe(subscriber);
    }),
    async stop() {
      advisorySub.unsubscribe();
      requestSub.unsubscribe();
      await work.catch(() => undefined);
      await history.close();
      events$.complete();
    },
  };
}

function amountOf(wo: MaintenanceWorkOrder): { amount?: Decimal } {
  return wo.amount ? { amount: wo.amount } : {};
}
