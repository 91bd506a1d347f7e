import type { JsonValue } from "@maaskit/metering";
import { z } from "zod";
import type { LedgerBackend } from "../../ledger.js";
import {
  isLedgerError,
  type LedgerErrorCode,
  ledgerError,
  ledgerErrorCodes,
} from "../../ledgerErrors.js";
import {
  type LedgerMethod,
  type LedgerMethodArgs,
  type LedgerMethodResults,
  ledgerMethods,
} from "./ledgerMethods.js";

/** Name and version of the request/response protocol maaskit ledgers speak. */
export const MAASKIT_LEDGER_PROTOCOL = "maaskit.ledger/1";

/** A JSON value: what crosses a transport (decimals as strings, instants as ISO strings). */
export type { JsonValue };

/**
 * A maaskit ledger call as plain JSON, e.g. `{ protocol: "maaskit.ledger/1", method:
 * "deposit", params: { agreementId: "0x…", amount: "12.5", by: "0x…" } }`.
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

/** True when `name` is a method of the protocol. */
export function isLedgerMethod(name: unknown): name is LedgerMethod {
  return typeof name === "string" && Object.hasOwn(ledgerMethods, name);
}

/**
 * The wire form (JSON) of one method's arguments. Throws the method's `…invalid` ledger
 * error, naming the path of every problem, for values that have no wire form.
 *
 * @example encodeLedgerParams("getBalance", agreementId) // { agreementId }
 */
export function encodeLedgerParams<M extends LedgerMethod>(
  method: M,
  args: LedgerMethodArgs[M],
): JsonValue {
  const spec = ledgerMethods[method];
  return convert(spec.invalid, method, () => z.encode(spec.params, args as never)) as JsonValue;
}

/** One method's arguments from their wire form; malformed: the method's `…invalid` error. */
export function decodeLedgerParams<M extends LedgerMethod>(
  method: M,
  params: unknown,
): LedgerMethodArgs[M] {
  const spec = ledgerMethods[method];
  return convert(spec.invalid, method, () =>
    z.decode(spec.params, params as never),
  ) as LedgerMethodArgs[M];
}

/** The wire form of one method's result (what a server answers). */
export function encodeLedgerResult<M extends LedgerMethod>(
  method: M,
  result: LedgerMethodResults[M],
): JsonValue {
  return convert("settlement.ledger.unavailable", method, () =>
    z.encode(ledgerMethods[method].result, result as never),
  ) as JsonValue;
}

/** One method's result from its wire form; malformed: `settlement.ledger.unavailable`. */
export function decodeLedgerResult<M extends LedgerMethod>(
  method: M,
  result: unknown,
): LedgerMethodResults[M] {
  return convert("settlement.ledger.unavailable", method, () =>
    z.decode(ledgerMethods[method].result, result as never),
  ) as LedgerMethodResults[M];
}

/**
 * Builds the request of one port call. Values are encoded faithfully (no normalisation
 * beyond the canonical forms), so the ledger behind the transport judges what the caller
 * passed. Throws the method's `…invalid` ledger error for values that have no JSON form.
 *
 * @example encodeLedgerRequest("getBalance", agreementId)
 */
export function encodeLedgerRequest<M extends LedgerMethod>(
  method: M,
  args: LedgerMethodArgs[M],
): LedgerTransactRequest {
  return { protocol: MAASKIT_LEDGER_PROTOCOL, method, params: encodeLedgerParams(method, args) };
}

/**
 * Reads the answer to `method`: returns the port's result, or throws the ledger's error with
 * its code. Anything that is not a well-formed response is `settlement.ledger.unavailable`.
 *
 * @example decodeLedgerResponse("getBalance", await connector.transact(request))
 */
export function decodeLedgerResponse<M extends LedgerMethod>(
  method: M,
  response: unknown,
): LedgerMethodResults[M] {
  const r = typeof response === "string" ? parseJson(response) : response;
  if (!isObject(r) || typeof r.ok !== "boolean") {
    throw ledgerError("settlement.ledger.unavailable", "The answer is not a ledger response", {
      method,
      protocol: MAASKIT_LEDGER_PROTOCOL,
    });
  }
  if (r.ok === false) throw ledgerErrorFromJson(r.error, method);
  return decodeLedgerResult(method, r.result);
}

/**
 * Runs one decoded call on a backend. The single place a wire method meets the port.
 *
 * @example await callLedgerMethod(backend, "getBalance", agreementId)
 */
export function callLedgerMethod<M extends LedgerMethod>(
  b: LedgerBackend,
  method: M,
  args: LedgerMethodArgs[M],
): Promise<LedgerMethodResults[M]> {
  const a = args as never;
  switch (method as LedgerMethod) {
    case "openAgreement": {
      const p = args as LedgerMethodArgs["openAgreement"];
      return b.openAgreement(p.agreement, p.by === undefined ? {} : { by: p.by }) as never;
    }
    case "getEvents":
      return (async () => {
        const from = (args as LedgerMethodArgs["getEvents"]).from ?? 0;
        const all = await b.getEvents();
        return { from, total: all.length, events: all.slice(from) };
      })() as never;
    default:
      return (
        b[method as Exclude<LedgerMethod, "openAgreement" | "getEvents">] as (x: never) => never
      )(a);
  }
}

/**
 * Serves one request with a `LedgerBackend`: decodes the JSON parameters, calls the backend
 * and encodes its result. Never throws: a malformed request or a ledger's refusal comes back
 * as `{ ok: false, error }`.
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
    if (!isLedgerMethod(method)) {
      throw ledgerError("settlement.ledger.unavailable", "Unknown ledger method", {
        method: typeof method === "string" ? method : null,
      });
    }
    const args = decodeLedgerParams(method, req.params);
    const result = await callLedgerMethod(backend, method, args);
    return { ok: true, result: encodeLedgerResult(method, result) };
  } catch (err) {
    return { ok: false, error: ledgerErrorToJson(err) };
  }
}

/**
 * A thrown value as `LedgerErrorJson`. Ledger errors keep their code and details; anything
 * else (a bug, a dropped connection) becomes `settlement.ledger.unavailable`.
 */
export function ledgerErrorToJson(err: unknown): LedgerErrorJson {
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

/** The ledger error a `LedgerErrorJson` stands for (same code; unknown codes: unavailable). */
export function ledgerErrorFromJson(e: unknown, method: string) {
  if (!isObject(e) || typeof e.code !== "string") {
    return ledgerError("settlement.ledger.unavailable", "The ledger's error is malformed", {
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

/** Runs a zod conversion; a problem becomes the ledger error `code` with every issue's path. */
function convert(code: LedgerErrorCode, method: string, fn: () => unknown): unknown {
  try {
    return fn();
  } catch (err) {
    if (isLedgerError(err)) throw err;
    if (err instanceof z.ZodError) {
      const problems = err.issues.map((i) => ({
        path: i.path.map(String).join(".") || "(root)",
        message: i.message,
      }));
      const first = problems[0];
      throw ledgerError(
        code,
        first === undefined ? "Malformed value" : `${first.path}: ${first.message}`,
        { method, problems },
        err,
      );
    }
    throw ledgerError(
      code,
      err instanceof Error ? err.message : "Malformed value",
      { method, cause: err instanceof Error ? err.message : String(err) },
      err,
    );
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ledgerError("settlement.ledger.unavailable", "Not JSON", {}, err);
  }
}

function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)) ?? "{}",
  );
}
