// The ledger a config names: the local embedded one, a central PostgreSQL ledger, a maaskit
// ledger service over HTTP, the maaskit contracts on an EVM chain, or a Cactus plugin registry.
import { readFileSync } from "node:fs";
import {
  type Currency,
  embeddedLedger,
  type LedgerBackend,
  type LedgerClock,
} from "@maaskit/settlement";
import type { GatewayConfig } from "../config/gatewayConfig.js";
import { GatewayError } from "../errors.js";
import { startCactusLedger } from "../ledgers/cactusLedger.js";
import { startEvmLedger } from "../ledgers/evmLedger.js";

/** A ledger opened from the config, and whether it holds both parties' consent locally. */
export interface ConfiguredLedger {
  readonly ledger: LedgerBackend & { readonly ready?: Promise<void> };
  /**
   * True for the local embedded ledger only: the gateway accepts the agreement for the
   * customer there. A central ledger waits for the customer's own acceptance.
   */
  readonly local: boolean;
  /**
   * On an EVM chain: the parties whose keys the ledger acts with and the settlement token
   * (an agreement without a token address is settled between them, in it).
   */
  readonly evm?: {
    readonly parties: { customer: string; provider: string; arbiter: string };
    readonly currency: Currency;
  };
  /** Closes the ledger and stops what it started (an anvil). */
  close(): Promise<void>;
}

/**
 * Opens the configured ledger. The embedded ledger (also inside Cactus) and an EVM ledger
 * follow `clock` (a simulator's machine time); a central ledger (PostgreSQL, HTTP) keeps its
 * own time. The EVM and Cactus choices load their optional peers only here.
 */
export async function ledgerFromConfig(
  config: GatewayConfig,
  clock: LedgerClock,
): Promise<ConfiguredLedger> {
  const l = config.ledger;
  const plain = (ledger: LedgerBackend, local: boolean): ConfiguredLedger => ({
    ledger,
    local,
    close: () => ledger.close(),
  });
  if (l.type === "embedded") return plain(embeddedLedger({ dir: l.dir, clock }), true);
  if (l.type === "postgres") {
    const { postgresLedger } = await import("@maaskit/settlement/postgres");
    return plain(postgresLedger({ connectionString: l.connectionString }), false);
  }
  if (l.type === "evm" || l.type === "cactus") {
    const started =
      l.type === "evm"
        ? await startEvmLedger({
            ...(l.rpcUrl ? { rpcUrl: l.rpcUrl } : {}),
            ...(l.keys ? { keys: l.keys } : {}),
            clock,
            stateFile: l.stateFile,
          })
        : await startCactusLedger({ dir: l.dir, clock });
    // The gateway holds every party's key here (anvil's accounts, the configured keys, the
    // embedded ledger behind Cactus): it gives the customer's consent too.
    return {
      ledger: started.ledger,
      local: true,
      ...("parties" in started
        ? { evm: { parties: started.parties, currency: started.currency } }
        : {}),
      async close() {
        await started.ledger.close();
        await started.stop();
      },
    };
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
  return plain(httpLedger({ url: l.url, auth: token }), false);
}
