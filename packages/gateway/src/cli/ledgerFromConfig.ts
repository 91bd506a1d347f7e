// The ledger a config names: the local embedded one, a central PostgreSQL ledger, or a
// maaskit ledger service over HTTP.
import { readFileSync } from "node:fs";
import { embeddedLedger, type LedgerBackend, type LedgerClock } from "@maaskit/settlement";
import type { GatewayConfig } from "../config/gatewayConfig.js";
import { GatewayError } from "../errors.js";

/** A ledger opened from the config, and whether it holds both parties' consent locally. */
export interface ConfiguredLedger {
  readonly ledger: LedgerBackend & { readonly ready?: Promise<void> };
  /**
   * True for the local embedded ledger only: the gateway accepts the agreement for the
   * customer there. A central ledger waits for the customer's own acceptance.
   */
  readonly local: boolean;
}

/**
 * Opens the configured ledger. The embedded ledger follows `clock` (a simulator's machine
 * time); a central ledger (PostgreSQL, HTTP) keeps its own time.
 */
export async function ledgerFromConfig(
  config: GatewayConfig,
  clock: LedgerClock,
): Promise<ConfiguredLedger> {
  const l = config.ledger;
  if (l.type === "embedded") return { ledger: embeddedLedger({ dir: l.dir, clock }), local: true };
  if (l.type === "postgres") {
    const { postgresLedger } = await import("@maaskit/settlement/postgres");
    return { ledger: postgresLedger({ connectionString: l.connectionString }), local: false };
  }
  let token: string;
  try {
    token = readFileSync(l.tokenFile, "utf8").trim();
  } catch (err) {
    throw new GatewayError(
      "gateway.config.unreadable",
      `cannot read ledger.tokenFile ${l.tokenFile}`,
      { tokenFile: l.tokenFile },
      err,
    );
  }
  const { httpLedger } = await import("@maaskit/settlement/http");
  return { ledger: httpLedger({ url: l.url, auth: token }), local: false };
}
