// The run command's OPC UA source against a real node-opcua server that allows one session:
// while another client holds it, the server refuses the gateway's session with
// BadTooManySessions — retried with backoff until the session is free, then read.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeterEvent } from "@maaskit/metering";
import {
  DataType,
  MessageSecurityMode,
  nodesets,
  OPCUACertificateManager,
  OPCUAClient,
  OPCUAServer,
  SecurityPolicy,
} from "node-opcua";
import { filter, firstValueFrom } from "rxjs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { opcuaSource, retryableOpcUaError } from "../src/cli/opcuaSource.js";
import { parseGatewayConfig } from "../src/config/gatewayConfig.js";
import { freePort } from "./support/scenario.js";

let dir: string;
let server: OPCUAServer;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "maaskit-gw-sessions-"));
  const port = await freePort();
  server = new OPCUAServer({
    port,
    hostname: "127.0.0.1",
    resourcePath: "/UA/OneSession",
    nodeset_filename: [nodesets.standard],
    serverCertificateManager: new OPCUACertificateManager({
      rootFolder: join(dir, "server-pki"),
      automaticallyAcceptUnknownCertificate: true,
    }),
    securityModes: [MessageSecurityMode.None],
    securityPolicies: [SecurityPolicy.None],
    allowAnonymous: true,
    maxAllowedSessionNumber: 1,
  } as ConstructorParameters<typeof OPCUAServer>[0]);
  await server.initialize();
  const ns = server.engine.addressSpace!.getOwnNamespace();
  ns.addVariable({
    browseName: "Volume",
    nodeId: "s=Volume",
    organizedBy: server.engine.addressSpace!.rootFolder.objects,
    dataType: "Double",
    minimumSamplingInterval: 0,
    value: { dataType: DataType.Double, value: 1234.5 },
  });
  await server.start();
  endpoint = `opc.tcp://127.0.0.1:${port}/UA/OneSession`;
}, 60_000);

afterAll(async () => {
  await server?.shutdown(0);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("the run command's OPC UA source", () => {
  test("behavior: a server refusing the session with BadTooManySessions is retried with backoff until the session is free", async () => {
    // Another client takes the only session.
    const blocker = OPCUAClient.create({
      endpointMustExist: false,
      securityMode: MessageSecurityMode.None,
      securityPolicy: SecurityPolicy.None,
      connectionStrategy: { maxRetry: 0 },
      clientCertificateManager: new OPCUACertificateManager({
        rootFolder: join(dir, "blocker-pki"),
        automaticallyAcceptUnknownCertificate: true,
      }),
    });
    await blocker.connect(endpoint);
    const session = await blocker.createSession();

    const config = parseGatewayConfig(
      {
        machineId: "m1",
        endpoint,
        profile: {
          name: "one register",
          billed: "volume",
          channels: { volume: { kind: "register", nodeId: "ns=1;s=Volume", unit: "MTQ" } },
        },
        agreement: "agreement.json",
        signerKeyFile: "gateway.key",
        opcua: {
          // explicit opt-in: this test server offers no secure endpoint
          security: { mode: "None" },
          reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
        },
      },
      dir,
    );
    const logs: Record<string, unknown>[] = [];
    const log = (e: { event: string; [k: string]: unknown }) => {
      logs.push(e);
      // Free the session once the gateway has been refused twice.
      if (e.event === "opcua.retrying" && e.attempt === 2) {
        void session.close().then(() => blocker.disconnect());
      }
    };
    const reading = await firstValueFrom(
      opcuaSource(config, log).pipe(filter((e: MeterEvent) => e.kind === "reading")),
    );
    expect(reading).toMatchObject({ channel: "volume", machineId: "m1" });
    expect(String((reading as { value: unknown }).value)).toBe("1234.5");
    const retries = logs.filter((l) => l.event === "opcua.retrying");
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(retries[0]).toMatchObject({ reason: "metering.opcua.sessionRejected", delayMs: 100 });
    expect(String(retries[0]!.message)).toContain("BadTooManySessions");
    expect(retries[1]).toMatchObject({ delayMs: 200 });
  }, 60_000);

  test("error: a session refused for any other reason (a wrong password) is not retried", () => {
    const err = {
      code: "metering.opcua.sessionRejected",
      details: { message: "BadUserAccessDenied (0x801f0000)" },
    };
    expect(retryableOpcUaError(err)).toBeUndefined();
    expect(
      retryableOpcUaError({ code: "metering.opcua.serverCertificateChanged" }),
    ).toBeUndefined();
    expect(retryableOpcUaError(new Error("boom"))).toBeUndefined();
    expect(retryableOpcUaError({ code: "metering.opcua.connectionFailed" })).toBe(
      "metering.opcua.connectionFailed",
    );
  });
});
