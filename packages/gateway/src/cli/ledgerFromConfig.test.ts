import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { parseGatewayConfig } from "../config/gatewayConfig.js";
import { ledgerFromConfig } from "./ledgerFromConfig.js";

const dir = mkdtempSync(join(tmpdir(), "ledger-from-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (ledger: unknown) =>
  parseGatewayConfig(
    {
      machineId: "compressor-1",
      endpoint: "opc.tcp://127.0.0.1:4840/UA/Compressor",
      profile: { base: "compressor" },
      agreement: "agreement.json",
      signerKeyFile: "gateway.key",
      ledger,
    },
    dir,
  );
const clock = { now: () => new Date() };

describe("ledgerFromConfig", () => {
  test("default: the embedded ledger is local (the gateway accepts for the customer there)", async () => {
    const { ledger, local } = await ledgerFromConfig(config(undefined), clock);
    expect(local).toBe(true);
    await ledger.ready;
    await ledger.close();
  });

  test("behavior: an http ledger is central and sends the token from its file as the bearer", async () => {
    writeFileSync(join(dir, "ledger.token"), "gateway-token-0123456789\n", { mode: 0o600 });
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { "content-type": "application/json" }).end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      const { ledger, local } = await ledgerFromConfig(
        config({ type: "http", url: `http://127.0.0.1:${port}`, tokenFile: "ledger.token" }),
        clock,
      );
      expect(local).toBe(false);
      expect(ledger.kind).toBe("http");
      await expect(ledger.getBalance("a-1")).rejects.toBeDefined();
      expect(seen[0]).toBe("Bearer gateway-token-0123456789");
      await ledger.close();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test("behavior: a postgres ledger is central and not local", async () => {
    const { ledger, local } = await ledgerFromConfig(
      config({ type: "postgres", connectionString: "postgres://nobody@127.0.0.1:1/none" }),
      clock,
    );
    expect(local).toBe(false);
    expect(ledger.kind).toBe("postgres");
    await ledger.close();
  });

  test("error: a missing token file is gateway.config.unreadable naming the file, before any request", async () => {
    await expect(
      ledgerFromConfig(
        config({ type: "http", url: "http://127.0.0.1:9", tokenFile: "missing.token" }),
        clock,
      ),
    ).rejects.toMatchObject({
      code: "gateway.config.unreadable",
      details: { tokenFile: join(dir, "missing.token") },
    });
  });

  test("behavior: a cactus ledger settles through a Cactus plugin registry over the embedded ledger in dataDir/cactus-ledger, local", async () => {
    const configured = await ledgerFromConfig(config({ type: "cactus" }), clock);
    expect(configured.local).toBe(true);
    expect(configured.ledger.kind).toBe("cactus");
    expect(configured.evm).toBeUndefined();
    await expect(configured.ledger.getBalance("no-such-agreement")).rejects.toMatchObject({
      code: expect.stringMatching(/^settlement\./),
    });
    await configured.close();
    expect(existsSync(join(dir, "data", "cactus-ledger"))).toBe(true);
  });
});
