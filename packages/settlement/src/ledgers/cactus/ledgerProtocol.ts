import {
  dec,
  decimalToString,
  type MeterRecord,
  meterRecordFromJson,
  meterRecordToJson,
  type PeriodStatement,
  periodStatementFromJson,
  periodStatementToJson,
  toDecimal,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { type Agreement, agreementToJson, parseAgreement } from "../../agreement.js";
import type { Currency } from "../../currency.js";
import { type Invoice, invoiceFromJson, invoiceToJson } from "../../invoice.js";
import type {
  AgreementState,
  Balance,
  ConfirmWorkOrderParameters,
  FundsResult,
  LedgerBackend,
  OpenWorkOrderResult,
  RecordsHead,
  WorkOrder,
  WorkOrderStatus,
  WorkOrderTerms,
} from "../../ledger.js";
import {
  isLedgerError,
  type LedgerErrorCode,
  ledgerError,
  ledgerErrorCodes,
} from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";

/** Name and version of the request/response protocol maaskit speaks through Cactus `transact`. */
export const MAASKIT_LEDGER_PROTOCOL = "maaskit.ledger/1";

/** A JSON value: what crosses a Cactus connector (decimals as strings, instants as ISO strings). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue | undefined };

/** Every `LedgerBackend` call that travels as a `transact` request. */
export type LedgerMethod =
  | "openAgreement"
  | "acceptAgreement"
  | "revokeSigner"
  | "submitRecords"
  | "settlePeriod"
  | "settleStatement"
  | "deposit"
  | "withdraw"
  | "getAgreement"
  | "getBalance"
  | "getInvoices"
  | "getRecordsHead"
  | "getEvents"
  | "openWorkOrder"
  | "fundWorkOrder"
  | "acceptWorkOrder"
  | "completeWorkOrder"
  | "confirmWorkOrder"
  | "cancelWorkOrder"
  | "disputeWorkOrder"
  | "resolveDispute"
  | "expireWorkOrder"
  | "getWorkOrder";

/** Methods that change the ledger (after them a `cactusLedger` fetches new events). */
export const ledgerWriteMethods: ReadonlySet<LedgerMethod> = new Set<LedgerMethod>([
  "openAgreement",
  "acceptAgreement",
  "revokeSigner",
  "submitRecords",
  "settlePeriod",
  "settleStatement",
  "deposit",
  "withdraw",
  "openWorkOrder",
  "fundWorkOrder",
  "acceptWorkOrder",
  "completeWorkOrder",
  "confirmWorkOrder",
  "cancelWorkOrder",
  "disputeWorkOrder",
  "resolveDispute",
  "expireWorkOrder",
]);

/**
 * A maaskit ledger call as a Cactus `transact` request: plain JSON, so it can equally cross
 * a Cactus API server. Example: `{ protocol: "maaskit.ledger/1", method: "deposit",
 * params: { agreementId: "0x…", amount: "12.5", by: "0x…" } }`.
 */
export interface LedgerTransactRequest {
  readonly protocol: typeof MAASKIT_LEDGER_PROTOCOL;
  readonly method: LedgerMethod;
  readonly params: JsonValue;
}

/** A ledger error as JSON: the dotted code, the short message and the details. */
export interface LedgerErrorJson {
  readonly code: string;
  readonly message: string;
  readonly details: { readonly [key: string]: JsonValue | undefined };
}

/**
 * The answer to a `LedgerTransactRequest`. A ledger's refusal (a `LedgerError`) is an
 * outcome, not a transport failure, so it travels as `{ ok: false, error }` and is re-raised
 * with the same code on the other side.
 */
export type LedgerTransactResponse =
  | { readonly ok: true; readonly result: JsonValue }
  | { readonly ok: false; readonly error: LedgerErrorJson };

/** Parameters of the `getEvents` method: events from index `from` on (default 0). */
export interface GetEventsParams {
  readonly from?: number;
}

/** Result of the `getEvents` method: the events from `from` on, and how many there are in all. */
export interface GetEventsResult {
  readonly from: number;
  readonly total: number;
  readonly events: readonly LedgerEvent[];
}

type Json = JsonValue;
type JsonObject = { readonly [key: string]: JsonValue | undefined };

/** The ledger error code a malformed request of each method is refused with. */
const invalidCode: Record<LedgerMethod, LedgerErrorCode> = {
  openAgreement: "settlement.agreement.invalid",
  acceptAgreement: "settlement.agreement.invalid",
  revokeSigner: "settlement.agreement.invalid",
  submitRecords: "settlement.record.invalid",
  settlePeriod: "settlement.period.invalid",
  settleStatement: "settlement.period.invalid",
  deposit: "settlement.funds.invalidAmount",
  withdraw: "settlement.funds.invalidAmount",
  getAgreement: "settlement.agreement.invalid",
  getBalance: "settlement.agreement.invalid",
  getInvoices: "settlement.agreement.invalid",
  getRecordsHead: "settlement.agreement.invalid",
  getEvents: "settlement.ledger.unavailable",
  openWorkOrder: "settlement.workOrder.invalid",
  fundWorkOrder: "settlement.workOrder.invalid",
  acceptWorkOrder: "settlement.workOrder.invalid",
  completeWorkOrder: "settlement.workOrder.invalid",
  confirmWorkOrder: "settlement.workOrder.invalid",
  cancelWorkOrder: "settlement.workOrder.invalid",
  disputeWorkOrder: "settlement.workOrder.invalid",
  resolveDispute: "settlement.workOrder.invalid",
  expireWorkOrder: "settlement.workOrder.invalid",
  getWorkOrder: "settlement.workOrder.invalid",
};

/** Arguments of each method, in the port's (in-process) types. */
export interface LedgerMethodArgs {
  openAgreement: { readonly agreement: Agreement; readonly by?: string };
  acceptAgreement: Parameters<LedgerBackend["acceptAgreement"]>[0];
  revokeSigner: Parameters<LedgerBackend["revokeSigner"]>[0];
  submitRecords: { readonly agreementId: string; readonly records: readonly MeterRecord[] };
  settlePeriod: Parameters<LedgerBackend["settlePeriod"]>[0];
  settleStatement: PeriodStatement;
  deposit: Parameters<LedgerBackend["deposit"]>[0];
  withdraw: Parameters<LedgerBackend["withdraw"]>[0];
  getAgreement: string;
  getBalance: string;
  getInvoices: string;
  getRecordsHead: string;
  getEvents: GetEventsParams;
  openWorkOrder: WorkOrderTerms;
  fundWorkOrder: Parameters<LedgerBackend["fundWorkOrder"]>[0];
  acceptWorkOrder: Parameters<LedgerBackend["acceptWorkOrder"]>[0];
  completeWorkOrder: Parameters<LedgerBackend["completeWorkOrder"]>[0];
  confirmWorkOrder: ConfirmWorkOrderParameters;
  cancelWorkOrder: Parameters<LedgerBackend["cancelWorkOrder"]>[0];
  disputeWorkOrder: Parameters<LedgerBackend["disputeWorkOrder"]>[0];
  resolveDispute: Parameters<LedgerBackend["resolveDispute"]>[0];
  expireWorkOrder: Parameters<LedgerBackend["expireWorkOrder"]>[0];
  getWorkOrder: string;
}

/** Results of each method, in the port's types. */
export interface LedgerMethodResults {
  openAgreement: Awaited<ReturnType<LedgerBackend["openAgreement"]>>;
  acceptAgreement: AgreementState;
  revokeSigner: AgreementState;
  submitRecords: Awaited<ReturnType<LedgerBackend["submitRecords"]>>;
  settlePeriod: Invoice;
  settleStatement: Invoice;
  deposit: FundsResult;
  withdraw: FundsResult;
  getAgreement: AgreementState;
  getBalance: Balance;
  getInvoices: readonly Invoice[];
  getRecordsHead: RecordsHead;
  getEvents: GetEventsResult;
  openWorkOrder: OpenWorkOrderResult;
  fundWorkOrder: WorkOrder;
  acceptWorkOrder: WorkOrder;
  completeWorkOrder: WorkOrder;
  confirmWorkOrder: WorkOrder;
  cancelWorkOrder: WorkOrder;
  disputeWorkOrder: WorkOrder;
  resolveDispute: WorkOrder;
  expireWorkOrder: WorkOrder;
  getWorkOrder: WorkOrder;
}

// ---------------------------------------------------------------------------------------------
// Client side: port arguments → request, response → port result.

/**
 * Builds the `transact` request of one port call. Values are encoded faithfully (no
 * normalisation), so the ledger behind the connector judges exactly what the caller passed.
 * Throws the method's `…invalid` ledger error for values that have no JSON form.
 *
 * @example encodeLedgerRequest("getBalance", agreementId)
 */
export function encodeLedgerRequest<M extends LedgerMethod>(
  method: M,
  args: LedgerMethodArgs[M],
): LedgerTransactRequest {
  const code = invalidCode[method];
  return {
    protocol: MAASKIT_LEDGER_PROTOCOL,
    method,
    params: guard(code, () => encodeArgs(method, args as never, code)),
  };
}

function encodeArgs(method: LedgerMethod, a: never, code: LedgerErrorCode): Json {
  const any = a as Record<string, unknown> & string;
  switch (method) {
    case "openAgreement": {
      const p = a as LedgerMethodArgs["openAgreement"];
      return {
        agreement: agreementToJson(p.agreement) as unknown as Json,
        ...(p.by === undefined ? {} : { by: p.by }),
      };
    }
    case "submitRecords": {
      const p = a as LedgerMethodArgs["submitRecords"];
      return {
        agreementId: p.agreementId,
        records: p.records.map((r) => meterRecordToJson(r) as unknown as Json),
      };
    }
    case "settlePeriod": {
      const p = a as LedgerMethodArgs["settlePeriod"];
      return {
        agreementId: p.agreementId,
        period: { start: isoOf(p.period.start, code), end: isoOf(p.period.end, code) },
      };
    }
    case "settleStatement":
      return periodStatementToJson(a as PeriodStatement) as unknown as Json;
    case "deposit":
    case "withdraw": {
      const p = a as LedgerMethodArgs["deposit"];
      return {
        agreementId: p.agreementId,
        amount: decimalOf(p.amount, code),
        by: p.by,
        ...(p.reference === undefined ? {} : { reference: p.reference }),
      };
    }
    case "getAgreement":
    case "getBalance":
    case "getInvoices":
    case "getRecordsHead":
      return { agreementId: any };
    case "getWorkOrder":
      return { workOrderId: any };
    case "getEvents":
      return { from: (a as GetEventsParams).from ?? 0 };
    case "openWorkOrder":
      return termsToJson(a as WorkOrderTerms, code);
    case "confirmWorkOrder": {
      const p = a as ConfirmWorkOrderParameters;
      if ("attestation" in p) {
        return {
          workOrderId: p.workOrderId,
          attestation: {
            evidenceHash: p.attestation.evidenceHash,
            clearedAt: isoOf(p.attestation.clearedAt, code),
            signature: p.attestation.signature,
          },
        };
      }
      return {
        workOrderId: p.workOrderId,
        by: p.by,
        ...(p.evidenceHash === undefined ? {} : { evidenceHash: p.evidenceHash }),
      };
    }
    case "resolveDispute": {
      const p = a as LedgerMethodArgs["resolveDispute"];
      return { workOrderId: p.workOrderId, toProvider: decimalOf(p.toProvider, code), by: p.by };
    }
    default: {
      // fund / accept / complete / cancel / dispute / expire: plain strings only.
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(any)) {
        if (typeof v !== "string") {
          throw ledgerError(code, `${k} must be a string`, { method, field: k });
        }
        out[k] = v;
      }
      return out;
    }
  }
}

/**
 * Reads a connector's answer to `method`: returns the port's result, or throws the ledger's
 * error with its code. Anything that is not a well-formed response is
 * `settlement.ledger.unavailable`.
 *
 * @example decodeLedgerResponse("getBalance", await connector.transact(request))
 */
export function decodeLedgerResponse<M extends LedgerMethod>(
  method: M,
  response: unknown,
): LedgerMethodResults[M] {
  const r = typeof response === "string" ? parseJson(response) : response;
  if (!isObject(r) || typeof r.ok !== "boolean") {
    throw ledgerError("settlement.ledger.unavailable", "The connector's answer is not a response", {
      method,
      protocol: MAASKIT_LEDGER_PROTOCOL,
    });
  }
  if (r.ok === false) throw ledgerErrorFromJson(r.error, method);
  return guard("settlement.ledger.unavailable", () =>
    decodeResult(method, r.result as Json),
  ) as LedgerMethodResults[M];
}

function decodeResult(method: LedgerMethod, j: Json): unknown {
  const o = j as Record<string, Json>;
  switch (method) {
    case "openAgreement":
    case "submitRecords":
      return j;
    case "settlePeriod":
    case "settleStatement":
      return invoiceFromJson(j);
    case "getInvoices":
      return (j as Json[]).map((i) => invoiceFromJson(i));
    case "deposit":
    case "withdraw":
      return { status: o.status, balance: balanceFromJson(o.balance as JsonObject) };
    case "getAgreement":
    case "acceptAgreement":
    case "revokeSigner":
      return {
        agreement: parseAgreement(o.agreement),
        status: o.status,
        recordDomain: o.recordDomain,
      };
    case "getBalance":
      return balanceFromJson(o);
    case "getRecordsHead":
      return {
        agreementId: o.agreementId,
        nextSeq: o.nextSeq,
        headHash: o.headHash,
        periodEnd:
          o.periodEnd === null ? null : dateOf(o.periodEnd, "settlement.ledger.unavailable"),
      };
    case "getEvents":
      return j;
    case "openWorkOrder":
      return { status: o.status, workOrder: workOrderFromJson(o.workOrder as JsonObject) };
    default:
      return workOrderFromJson(o);
  }
}

// ---------------------------------------------------------------------------------------------
// Connector side: request → port call → response.

/**
 * Serves one `transact` request with a `LedgerBackend`: decodes the JSON parameters, calls
 * the backend and encodes its result. Never throws: a malformed request or a ledger's
 * refusal comes back as `{ ok: false, error }`.
 *
 * @example const response = await serveLedgerRequest(embeddedLedger({ dir }), request)
 */
export async function serveLedgerRequest(
  backend: LedgerBackend,
  request: unknown,
): Promise<LedgerTransactResponse> {
  try {
    const req = typeof request === "string" ? parseJson(request) : request;
    if (!isObject(req) || req.protocol !== MAASKIT_LEDGER_PROTOCOL) {
      throw ledgerError("settlement.ledger.unavailable", "Not a maaskit ledger request", {
        expected: MAASKIT_LEDGER_PROTOCOL,
        protocol: isObject(req) && typeof req.protocol === "string" ? req.protocol : null,
      });
    }
    const method = req.method;
    if (typeof method !== "string" || !(method in invalidCode)) {
      throw ledgerError("settlement.ledger.unavailable", "Unknown ledger method", {
        method: typeof method === "string" ? method : null,
      });
    }
    const m = method as LedgerMethod;
    const result = await call(backend, m, req.params as Json, invalidCode[m]);
    return { ok: true, result };
  } catch (err) {
    return { ok: false, error: ledgerErrorToJson(err) };
  }
}

async function call(b: LedgerBackend, m: LedgerMethod, j: Json, code: LedgerErrorCode) {
  const p = guard(code, () => {
    if (!isObject(j)) throw new TypeError("params must be an object");
    return j as Record<string, Json>;
  });
  const str = (k: string) => guard(code, () => stringOf(p[k], k));
  switch (m) {
    case "openAgreement": {
      const agreement = guard(code, () => parseAgreement(p.agreement));
      const by = p.by === undefined ? undefined : str("by");
      return (await b.openAgreement(agreement, by === undefined ? {} : { by })) as unknown as Json;
    }
    case "acceptAgreement":
    case "revokeSigner": {
      const s =
        m === "acceptAgreement"
          ? await b.acceptAgreement({ agreementId: str("agreementId"), by: str("by") })
          : await b.revokeSigner({
              agreementId: str("agreementId"),
              signer: str("signer"),
              by: str("by"),
            });
      return {
        agreement: agreementToJson(s.agreement) as unknown as Json,
        status: s.status,
        recordDomain: { ...s.recordDomain },
      };
    }
    case "submitRecords": {
      const records = guard(code, () => (p.records as Json[]).map((r) => meterRecordFromJson(r)));
      return (await b.submitRecords({
        agreementId: str("agreementId"),
        records,
      })) as unknown as Json;
    }
    case "settlePeriod": {
      const period = guard(code, () => p.period as Record<string, Json>);
      const invoice = await b.settlePeriod({
        agreementId: str("agreementId"),
        period: { start: dateOf(period.start, code), end: dateOf(period.end, code) },
      });
      return invoiceToJson(invoice) as unknown as Json;
    }
    case "settleStatement": {
      const st = guard(code, () => periodStatementFromJson(p));
      return invoiceToJson(await b.settleStatement(st)) as unknown as Json;
    }
    case "deposit":
    case "withdraw": {
      const args = {
        agreementId: str("agreementId"),
        amount: guard(code, () => dec(stringOf(p.amount, "amount"))),
        by: str("by"),
        ...(p.reference === undefined ? {} : { reference: str("reference") }),
      };
      const out = m === "deposit" ? await b.deposit(args) : await b.withdraw(args);
      return { status: out.status, balance: balanceToJson(out.balance) };
    }
    case "getAgreement": {
      const s = await b.getAgreement(str("agreementId"));
      return {
        agreement: agreementToJson(s.agreement) as unknown as Json,
        status: s.status,
        recordDomain: { ...s.recordDomain },
      };
    }
    case "getBalance":
      return balanceToJson(await b.getBalance(str("agreementId")));
    case "getInvoices":
      return (await b.getInvoices(str("agreementId"))).map(
        (i) => invoiceToJson(i) as unknown as Json,
      );
    case "getRecordsHead": {
      const h = await b.getRecordsHead(str("agreementId"));
      return {
        agreementId: h.agreementId,
        nextSeq: h.nextSeq,
        headHash: h.headHash,
        periodEnd: h.periodEnd === null ? null : h.periodEnd.toISOString(),
      };
    }
    case "getEvents": {
      const from = p.from === undefined ? 0 : p.from;
      if (typeof from !== "number" || !Number.isSafeInteger(from) || from < 0) {
        throw ledgerError(code, "from must be a non-negative integer", { from: String(from) });
      }
      const all = await b.getEvents();
      return { from, total: all.length, events: all.slice(from) } as unknown as Json;
    }
    case "openWorkOrder": {
      const terms = guard(code, () => termsFromJson(p, code));
      const out = await b.openWorkOrder(terms);
      return { status: out.status, workOrder: workOrderToJson(out.workOrder) };
    }
    case "fundWorkOrder":
      return workOrderToJson(
        await b.fundWorkOrder({ workOrderId: str("workOrderId"), by: str("by") }),
      );
    case "acceptWorkOrder":
      return workOrderToJson(
        await b.acceptWorkOrder({ workOrderId: str("workOrderId"), by: str("by") }),
      );
    case "completeWorkOrder":
      return workOrderToJson(
        await b.completeWorkOrder({
          workOrderId: str("workOrderId"),
          proofHash: str("proofHash"),
          by: str("by"),
        }),
      );
    case "confirmWorkOrder": {
      const att = p.attestation;
      const params: ConfirmWorkOrderParameters = isObject(att)
        ? {
            workOrderId: str("workOrderId"),
            attestation: guard(code, () => ({
              evidenceHash: stringOf(att.evidenceHash, "evidenceHash"),
              clearedAt: dateOf(att.clearedAt, code),
              signature: stringOf(att.signature, "signature"),
            })),
          }
        : {
            workOrderId: str("workOrderId"),
            by: str("by"),
            ...(p.evidenceHash === undefined ? {} : { evidenceHash: str("evidenceHash") }),
          };
      return workOrderToJson(await b.confirmWorkOrder(params));
    }
    case "cancelWorkOrder":
      return workOrderToJson(
        await b.cancelWorkOrder({ workOrderId: str("workOrderId"), by: str("by") }),
      );
    case "disputeWorkOrder":
      return workOrderToJson(
        await b.disputeWorkOrder({
          workOrderId: str("workOrderId"),
          reasonHash: str("reasonHash"),
          by: str("by"),
        }),
      );
    case "resolveDispute":
      return workOrderToJson(
        await b.resolveDispute({
          workOrderId: str("workOrderId"),
          toProvider: guard(code, () => dec(stringOf(p.toProvider, "toProvider"))),
          by: str("by"),
        }),
      );
    case "expireWorkOrder":
      return workOrderToJson(
        await b.expireWorkOrder({ workOrderId: str("workOrderId"), by: str("by") }),
      );
    case "getWorkOrder":
      return workOrderToJson(await b.getWorkOrder(str("workOrderId")));
  }
}

// ---------------------------------------------------------------------------------------------
// Errors across the wire.

/**
 * A thrown value as `LedgerErrorJson`. Ledger errors keep their code and details; anything
 * else (a bug, a dropped connection) becomes `settlement.ledger.unavailable`.
 */
function ledgerErrorToJson(err: unknown): LedgerErrorJson {
  if (isLedgerError(err)) {
    return {
      code: err.code,
      message: (err as { shortMessage?: string }).shortMessage ?? err.message,
      details: jsonSafe((err as { details?: unknown }).details ?? {}) as LedgerErrorJson["details"],
    };
  }
  return {
    code: "settlement.ledger.unavailable",
    message: "The ledger failed",
    details: { cause: err instanceof Error ? err.message : String(err) },
  };
}

function ledgerErrorFromJson(e: unknown, method: LedgerMethod) {
  if (!isObject(e) || typeof e.code !== "string") {
    return ledgerError("settlement.ledger.unavailable", "The connector's error is malformed", {
      method,
    });
  }
  const details = isObject(e.details) ? (e.details as Record<string, unknown>) : {};
  const message = typeof e.message === "string" ? e.message : e.code;
  if (!(ledgerErrorCodes as readonly string[]).includes(e.code)) {
    return ledgerError("settlement.ledger.unavailable", message, { ...details, code: e.code });
  }
  return ledgerError(e.code as LedgerErrorCode, message, details);
}

// ---------------------------------------------------------------------------------------------
// Value codecs.

function balanceToJson(b: Balance): Json {
  return {
    agreementId: b.agreementId,
    currency: currencyToJson(b.currency),
    available: decimalToString(toDecimal(b.available)),
    due: decimalToString(toDecimal(b.due)),
    paidToProvider: decimalToString(toDecimal(b.paidToProvider)),
  };
}

function balanceFromJson(j: JsonObject): Balance {
  return {
    agreementId: stringOf(j.agreementId, "agreementId"),
    currency: currencyFromJson(j.currency),
    available: dec(stringOf(j.available, "available")),
    due: dec(stringOf(j.due, "due")),
    paidToProvider: dec(stringOf(j.paidToProvider, "paidToProvider")),
  };
}

function currencyToJson(c: Currency): Json {
  return c.address === undefined
    ? { symbol: c.symbol, decimals: c.decimals }
    : { symbol: c.symbol, decimals: c.decimals, address: c.address };
}

function currencyFromJson(j: Json | undefined): Currency {
  if (!isObject(j) || typeof j.symbol !== "string" || typeof j.decimals !== "number") {
    throw new TypeError("currency must be { symbol, decimals, address? }");
  }
  return j.address === undefined
    ? { symbol: j.symbol, decimals: j.decimals }
    : { symbol: j.symbol, decimals: j.decimals, address: stringOf(j.address, "address") };
}

function termsToJson(t: WorkOrderTerms, code: LedgerErrorCode): Record<string, Json> {
  return {
    workOrderId: t.workOrderId,
    customer: t.customer,
    provider: t.provider,
    arbiter: t.arbiter,
    ...(t.funder === undefined ? {} : { funder: t.funder }),
    ...(t.machineSigner === undefined ? {} : { machineSigner: t.machineSigner }),
    amount: decimalOf(t.amount, code),
    currency: currencyToJson(t.currency),
    acceptBy: isoOf(t.acceptBy, code),
    completeBy: isoOf(t.completeBy, code),
    conditionHash: t.conditionHash,
  };
}

function termsFromJson(j: JsonObject, code: LedgerErrorCode): WorkOrderTerms {
  return {
    workOrderId: stringOf(j.workOrderId, "workOrderId"),
    customer: stringOf(j.customer, "customer"),
    provider: stringOf(j.provider, "provider"),
    arbiter: stringOf(j.arbiter, "arbiter"),
    ...(j.funder === undefined ? {} : { funder: stringOf(j.funder, "funder") }),
    ...(j.machineSigner === undefined
      ? {}
      : { machineSigner: stringOf(j.machineSigner, "machineSigner") }),
    amount: dec(stringOf(j.amount, "amount")),
    currency: currencyFromJson(j.currency),
    acceptBy: dateOf(j.acceptBy, code),
    completeBy: dateOf(j.completeBy, code),
    conditionHash: stringOf(j.conditionHash, "conditionHash"),
  };
}

const workOrderStatuses: ReadonlySet<string> = new Set<WorkOrderStatus>([
  "open",
  "funded",
  "accepted",
  "completed",
  "released",
  "refunded",
  "cancelled",
  "disputed",
  "resolved",
]);

function workOrderToJson(w: WorkOrder): Json {
  return {
    ...termsToJson(w, "settlement.ledger.unavailable"),
    status: w.status,
    proofHash: w.proofHash,
  };
}

function workOrderFromJson(j: JsonObject): WorkOrder {
  if (typeof j.status !== "string" || !workOrderStatuses.has(j.status)) {
    throw new TypeError("status must be a work-order status");
  }
  return {
    ...termsFromJson(j, "settlement.ledger.unavailable"),
    status: j.status as WorkOrderStatus,
    proofHash: j.proofHash === null ? null : stringOf(j.proofHash, "proofHash"),
  };
}

function decimalOf(v: Decimal, code: LedgerErrorCode): string {
  try {
    return decimalToString(toDecimal(v));
  } catch (err) {
    throw ledgerError(code, "Not a decimal", { value: String(v) }, err);
  }
}

function isoOf(d: Date, code: LedgerErrorCode): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) {
    throw ledgerError(code, "Not a valid instant", { value: String(d) });
  }
  return d.toISOString();
}

function dateOf(v: Json | undefined, code: LedgerErrorCode): Date {
  const d = typeof v === "string" ? new Date(v) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) {
    throw ledgerError(code, "Not an ISO 8601 instant", { value: String(v) });
  }
  return d;
}

function stringOf(v: Json | undefined, field: string): string {
  if (typeof v !== "string") throw new TypeError(`${field} must be a string`);
  return v;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ledgerError("settlement.ledger.unavailable", "Not JSON", {}, err);
  }
}

/** Runs `fn`; a non-ledger error (a type mismatch) becomes the ledger error `code`. */
function guard<T>(code: LedgerErrorCode, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isLedgerError(err)) throw err;
    throw ledgerError(
      code,
      err instanceof Error ? err.message : "Malformed value",
      { cause: err instanceof Error ? err.message : String(err) },
      err,
    );
  }
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "{}",
  );
}
