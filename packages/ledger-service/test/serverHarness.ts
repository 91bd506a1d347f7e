import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedLedger, type LedgerBackend, type LedgerClock } from "@maaskit/settlement";
import {
  createLedgerServer,
  type LedgerServer,
  type LedgerServerLimits,
  tokenTable,
} from "../src/index.js";

/** A token entry of a test's tokens file. */
export interface TestToken {
  readonly name: string;
  readonly token: string;
  readonly role: "party" | "relayer" | "operator";
  readonly address?: string;
}

/** The operator's token every harness has (acts for anyone). */
export const OPERATOR_TOKEN = "operator-token-0123456789abcdef";

/**
 * A ledger behind a service on 127.0.0.1, port 0: an embedded ledger in a fresh directory,
 * or the backend `options.backend` gives (closed by `stop()` like the embedded one).
 */
export async function startService(options: {
  clock?: LedgerClock;
  tokens?: readonly TestToken[];
  limits?: LedgerServerLimits;
  backend?: LedgerBackend & { readonly ready: Promise<void> };
}): Promise<{ url: string; server: LedgerServer; dir: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "ledger-service-"));
  const backend =
    options.backend ?? embeddedLedger({ dir, ...(options.clock ? { clock: options.clock } : {}) });
  await backend.ready;
  const server = createLedgerServer({
    backend,
    auth: tokenTable({
      tokens: [
        { name: "operator", token: OPERATOR_TOKEN, role: "operator" },
        ...(options.tokens ?? []),
      ],
    }),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    dir,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
