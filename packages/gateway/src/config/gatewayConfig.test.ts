import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { gatewayConfigJsonSchema, parseDuration, parseGatewayConfig } from "./gatewayConfig.js";

const minimal = {
  machineId: "compressor-1",
  endpoint: "opc.tcp://127.0.0.1:4840/UA/Compressor",
  profile: { base: "compressor" },
  agreement: "agreement.json",
  signerKeyFile: "gateway.key",
};

/** The dotted paths of the problems a config with this `ledger` has. */
function ledgerProblems(ledger: unknown): string[] {
  try {
    parseGatewayConfig({ ...minimal, ledger }, "/");
  } catch (e) {
    expect(e).toMatchObject({ code: "gateway.config.invalid" });
    return (e as { details: { problems: { path: string }[] } }).details.problems.map((p) => p.path);
  }
  return [];
}

describe("parseGatewayConfig", () => {
  const sparkplug = {
    type: "sparkplug",
    brokerUrl: "mqtt://127.0.0.1:1883",
    groupId: "plant1",
    edgeNodeId: "compressor-edge",
    deviceId: "compressor",
    hostId: "maaskit-gateway",
    metrics: { AccumulatedVolume: { name: "Volume", scale: "0.001" } },
  };

  test("default: the source is OPC UA at the endpoint", () => {
    expect(parseGatewayConfig(minimal, "/etc/maaskit").source).toEqual({ type: "opcua" });
  });

  test("behavior: source sparkplug beside OPC UA: no endpoint needed, the broker is the endpoint", () => {
    const { endpoint: _endpoint, ...noEndpoint } = minimal;
    const c = parseGatewayConfig({ ...noEndpoint, source: sparkplug }, "/etc/maaskit");
    expect(c.source).toEqual(sparkplug);
    expect(c.endpoint).toBe("mqtt://127.0.0.1:1883");
  });

  test("error: a Sparkplug metric for a channel the profile lacks, a bad id, an OPC UA source without endpoint", () => {
    const { endpoint: _endpoint, ...noEndpoint } = minimal;
    const bad = {
      ...sparkplug,
      edgeNodeId: "a/b",
      metrics: { Nope: { name: "X" } },
    };
    expect(() => parseGatewayConfig({ ...noEndpoint, source: bad }, "/")).toThrow(
      expect.objectContaining({
        details: {
          problems: expect.arrayContaining([
            expect.objectContaining({ path: "source.edgeNodeId" }),
          ]),
        },
      }),
    );
    expect(() =>
      parseGatewayConfig(
        { ...noEndpoint, source: { ...sparkplug, metrics: { Nope: { name: "X" } } } },
        "/",
      ),
    ).toThrow(/source\.metrics\.Nope: no channel "Nope" in the profile/);
    expect(() => parseGatewayConfig(noEndpoint, "/")).toThrow(
      /endpoint: the OPC UA endpoint is required/,
    );
  });

  test("default: a minimal file gets every default, paths resolved against the file's folder", () => {
    const c = parseGatewayConfig(minimal, "/etc/maaskit");
    expect(c.agreementFile).toBe("/etc/maaskit/agreement.json");
    expect(c.dataDir).toBe("/etc/maaskit/data");
    expect(c.ledger).toEqual({ type: "embedded", dir: "/etc/maaskit/data/ledger" });
    expect(c.window).toEqual({ sizeMs: 900_000, allowedLatenessMs: 5000 });
    expect(c.baseline).toBe("observed");
    expect(c.unobservedTime).toBe("notMachineFault");
    expect(c.profile.billed).toBe("AccumulatedVolume");
    expect(c.profile.channels.AccumulatedVolume?.nodeId).toBe(
      "ns=1;s=Compressor.Operational.AccumulatedVolume",
    );
    // 12.5 m³/min nameplate → 4800 ms per m³, not a hard-coded 8000.
    expect(c.profile.idealRate).toEqual({ value: "12.5", per: "min" });
  });

  test("error: every problem is reported at once, with its path", () => {
    let err: unknown;
    try {
      parseGatewayConfig(
        {
          machineId: "",
          endpoint: "http://x",
          profile: {
            name: "p",
            billed: "flow",
            channels: { flow: { kind: "rate", nodeId: "ns=1;s=F" } },
            maintenance: {
              filter: { channel: "filterDp", above: "1", clearAt: "0.5", minDurationMs: 0 },
            },
          },
          agreement: "a.json",
          signerKeyFile: "k",
          window: { size: "fortnight", timeZone: "Mars/Olympus" },
          surprise: true,
        },
        "/",
      );
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "gateway.config.invalid" });
    const paths = (err as { details: { problems: { path: string }[] } }).details.problems.map(
      (p) => p.path,
    );
    expect(paths).toEqual(expect.arrayContaining(["machineId", "endpoint", "window.size", ""]));
    // Cross-field checks run only once the shapes are valid; check them separately.
    let err2: unknown;
    try {
      parseGatewayConfig(
        {
          ...minimal,
          window: { timeZone: "Mars/Olympus" },
          profile: {
            name: "p",
            billed: "flow",
            channels: { flow: { kind: "rate", nodeId: "ns=1;s=F" } },
            maintenance: {
              filter: { channel: "filterDp", above: "1", clearAt: "0.5", minDurationMs: 0 },
            },
          },
        },
        "/",
      );
    } catch (e) {
      err2 = e;
    }
    const paths2 = (err2 as { details: { problems: { path: string }[] } }).details.problems.map(
      (p) => p.path,
    );
    expect(paths2).toEqual(
      expect.arrayContaining([
        "window.timeZone",
        "profile.billed",
        "profile.channels.flow.unit",
        "profile.maintenance.filter.channel",
      ]),
    );
  });

  test("behavior: ledger postgres or http beside the embedded default; token file resolved against the file's folder", () => {
    expect(
      parseGatewayConfig(
        {
          ...minimal,
          ledger: { type: "postgres", connectionString: "postgres://ledger@db:5432/maaskit" },
        },
        "/etc/maaskit",
      ).ledger,
    ).toEqual({ type: "postgres", connectionString: "postgres://ledger@db:5432/maaskit" });
    expect(
      parseGatewayConfig(
        {
          ...minimal,
          ledger: { type: "http", url: "https://ledger.example:8545", tokenFile: "ledger.token" },
        },
        "/etc/maaskit",
      ).ledger,
    ).toEqual({
      type: "http",
      url: "https://ledger.example:8545",
      tokenFile: "/etc/maaskit/ledger.token",
    });
  });

  test("error: a ledger of an unknown type, a non-postgres URL, an http ledger without its token file — each named by path", () => {
    expect(ledgerProblems({ type: "paper" })).toEqual(["ledger.type"]);
    expect(ledgerProblems({ type: "postgres", connectionString: "mysql://db/x" })).toEqual([
      "ledger.connectionString",
    ]);
    expect(ledgerProblems({ type: "http", url: "ftp://ledger" })).toEqual(
      expect.arrayContaining(["ledger.url", "ledger.tokenFile"]),
    );
  });

  test("behavior: ledger evm (a local anvil, or rpcUrl with the parties' keys from files or env) and cactus; key files and the contracts' state file resolved", () => {
    const at = (ledger: unknown) =>
      parseGatewayConfig({ ...minimal, ledger }, "/etc/maaskit").ledger;
    expect(at({ type: "evm" })).toEqual({
      type: "evm",
      stateFile: "/etc/maaskit/data/evm-contracts.json",
    });
    expect(
      at({
        type: "evm",
        rpcUrl: "https://rpc.example:8545",
        keys: {
          relayer: { keyFile: "keys/relayer.key" },
          customer: { env: "CUSTOMER_KEY" },
          provider: { keyFile: "/secrets/provider.key" },
          arbiter: { env: "ARBITER_KEY" },
        },
      }),
    ).toEqual({
      type: "evm",
      rpcUrl: "https://rpc.example:8545",
      keys: {
        relayer: { keyFile: "/etc/maaskit/keys/relayer.key" },
        customer: { env: "CUSTOMER_KEY" },
        provider: { keyFile: "/secrets/provider.key" },
        arbiter: { env: "ARBITER_KEY" },
      },
      stateFile: "/etc/maaskit/data/evm-contracts.json",
    });
    expect(at({ type: "cactus" })).toEqual({
      type: "cactus",
      dir: "/etc/maaskit/data/cactus-ledger",
    });
  });

  test("attack: an evm rpcUrl without the parties' keys (the gateway would sign with anvil's public dev keys on someone's node), a key from a lowercase env name or a missing role — each named by path", () => {
    expect(ledgerProblems({ type: "evm", rpcUrl: "http://127.0.0.1:8545" })).toEqual([
      "ledger.keys",
    ]);
    const key = { keyFile: "k" };
    expect(
      ledgerProblems({
        type: "evm",
        rpcUrl: "http://127.0.0.1:8545",
        keys: { relayer: key, customer: { env: "lower" }, provider: key },
      }),
    ).toEqual(expect.arrayContaining(["ledger.keys.customer.env", "ledger.keys.arbiter"]));
    expect(ledgerProblems({ type: "evm", rpcUrl: "ftp://node" })).toEqual(
      expect.arrayContaining(["ledger.rpcUrl"]),
    );
  });

  test("behavior: the committed gateway.schema.json is what the zod schema generates", () => {
    const file = fileURLToPath(new URL("../../gateway.schema.json", import.meta.url));
    const committed = JSON.parse(readFileSync(file, "utf8"));
    expect(committed).toEqual(gatewayConfigJsonSchema());
  });

  test("parseDuration", () => {
    expect(parseDuration("2d")).toBe(172_800_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration("2 days")).toBeUndefined();
  });
});
