import { createHash } from "node:crypto";
import { MaaskitError } from "@maaskit/metering";
import { type LedgerBackend, type LedgerErrorCode, ledgerError } from "@maaskit/settlement";
import type { LedgerMethod, LedgerMethodArgs } from "@maaskit/settlement/http";
import { z } from "zod";

/**
 * Who a token stands for. `party`: one address, acting only as itself (a provider, a
 * customer, an arbiter, a funder); `relayer`: no address, may only deliver what
 * authenticates itself (signed records, signed statements, settling a period); `operator`:
 * the service's operator, acting for anyone (the trust the embedded ledger gives its writer).
 */
export type Caller =
  | { readonly name: string; readonly role: "party"; readonly address: string }
  | { readonly name: string; readonly role: "relayer" | "operator" };

const entry = z
  .object({
    name: z.string().min(1),
    /** The token itself, or (better: the file then holds no secret) its sha256 in hex. */
    token: z.string().min(16).optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    role: z.enum(["party", "relayer", "operator"]),
    address: z
      .string()
      .regex(/^0x[0-9a-fA-F]{40}$/)
      .optional(),
  })
  .strict()
  .refine((e) => (e.token === undefined) !== (e.sha256 === undefined), {
    message: "give exactly one of token and sha256",
  })
  .refine((e) => (e.role === "party") === (e.address !== undefined), {
    message: "a party has an address; relayers and operators have none",
  });

/** The tokens file: `{ "tokens": [{ name, token | sha256, role, address? }] }`. */
export const tokensFileSchema = z.object({ tokens: z.array(entry).min(1) }).strict();

/** A table of bearer tokens → callers (by the token's sha256). */
export type TokenTable = ReadonlyMap<string, Caller>;

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * Reads a tokens file's JSON into a token table. Every problem is reported with its path:
 * `ledgerService.tokens.invalid`.
 *
 * @example tokenTable(JSON.parse(readFileSync("tokens.json", "utf8")))
 */
export function tokenTable(json: unknown): TokenTable {
  const parsed = tokensFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new MaaskitError("ledgerService.tokens.invalid", "The tokens file is invalid", {
      details: {
        problems: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      },
    });
  }
  const table = new Map<string, Caller>();
  for (const e of parsed.data.tokens) {
    const key = e.sha256 ?? sha256(e.token as string);
    if (table.has(key)) {
      throw new MaaskitError("ledgerService.tokens.invalid", "A token is listed twice", {
        details: { name: e.name },
      });
    }
    table.set(
      key,
      e.role === "party"
        ? { name: e.name, role: "party", address: e.address as string }
        : { name: e.name, role: e.role },
    );
  }
  return table;
}

/** The caller a presented bearer token stands for, or undefined. */
export function callerOf(table: TokenTable, token: string | undefined): Caller | undefined {
  return token === undefined || token === "" ? undefined : table.get(sha256(token));
}

const same = (a: string | undefined, b: string | undefined) =>
  a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();

/** Methods anyone authenticated may call: what they carry authenticates itself. */
const open: ReadonlySet<LedgerMethod> = new Set([
  "submitRecords",
  "settleStatement",
  "settlePeriod",
]);

/** What a refusal says for each family of methods (the port's own unauthorized codes). */
function refusalCode(method: LedgerMethod): LedgerErrorCode {
  if (method === "deposit" || method === "withdraw") return "settlement.funds.unauthorized";
  if (method.includes("WorkOrder") || method === "resolveDispute") {
    return "settlement.workOrder.unauthorized";
  }
  return "settlement.agreement.unauthorized";
}

/**
 * Checks that `caller` may make the call: operators may do anything; anyone authenticated
 * may deliver signed records and statements and settle; every other write needs `by` (or the
 * offering / opening party, or a grant's or revocation's issuer) to be the caller's own
 * address; reads need the caller to be a
 * party of the agreement or work order. Throws the port's unauthorized code of the method otherwise (naming the caller, never the
 * token).
 */
export async function authorize<M extends LedgerMethod>(
  backend: LedgerBackend,
  caller: Caller,
  method: M,
  args: LedgerMethodArgs[M],
): Promise<void> {
  if (caller.role === "operator" || open.has(method)) return;
  const me = caller.role === "party" ? caller.address : undefined;
  const refuse = (): never => {
    throw ledgerError(refusalCode(method), "The caller may not make this call", {
      method,
      caller: caller.name,
    });
  };
  const a = args as Record<string, unknown>;
  switch (method) {
    case "openAgreement": {
      const p = args as LedgerMethodArgs["openAgreement"];
      if (!same(p.by ?? p.agreement.parties.provider, me)) refuse();
      return;
    }
    case "openWorkOrder":
      if (!same((args as LedgerMethodArgs["openWorkOrder"]).customer, me)) refuse();
      return;
    case "confirmWorkOrder":
      if ("attestation" in a) return; // the machine's signature authenticates it
      if (!same(a.by as string, me)) refuse();
      return;
    case "grantEntitlement":
      // The vendor registers its own grants (the ledger checks it is the provider's key).
      if (!same((args as LedgerMethodArgs["grantEntitlement"]).grant.issuer, me)) refuse();
      return;
    case "revokeEntitlement":
      if (!same((args as LedgerMethodArgs["revokeEntitlement"]).revocation.issuer, me)) refuse();
      return;
    case "getEntitlements":
    case "getAgreement":
    case "getBalance":
    case "getInvoices":
    case "getRecordsHead": {
      const { agreement } = await backend.getAgreement(args as string);
      if (!same(agreement.parties.provider, me) && !same(agreement.parties.customer, me)) refuse();
      return;
    }
    case "getWorkOrder": {
      const w = await backend.getWorkOrder(args as string);
      if (![w.customer, w.provider, w.arbiter, w.funder].some((x) => same(x, me))) refuse();
      return;
    }
    case "getEvents":
      return; // filtered to the caller's own agreements and work orders
    default:
      if (!same(a.by as string | undefined, me)) refuse();
  }
}
