import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { type FromOpcUaOptions, fromOpcUa } from "./fromOpcUa.js";

const valid: FromOpcUaOptions = {
  endpointUrl: "opc.tcp://127.0.0.1:4840/UA/Compressor",
  machineId: "compressor-1",
  nodes: [
    {
      nodeId: "ns=1;s=Compressor.Operational.AccumulatedVolume",
      channel: "volume",
      unit: "MTQ",
      kind: "register",
    },
  ],
  pkiDir: "/tmp/maaskit-unit-pki",
};

function problemsOf(options: FromOpcUaOptions): string[] {
  try {
    fromOpcUa(options);
  } catch (e) {
    expect(isMaaskitError(e, "metering.opcua.invalidConfig")).toBe(true);
    return (e as { details: { problems: string[] } }).details.problems;
  }
  return [];
}

// Connecting, reconnecting and reading are tested against a real server in test/opcua.test.ts.
describe("fromOpcUa", () => {
  it("default: valid options build a lazy observable without connecting", () => {
    expect(problemsOf(valid)).toEqual([]);
  });

  it("error: maxHeldNotifications must be a positive number", () => {
    expect(problemsOf({ ...valid, maxHeldNotifications: 0 })).toEqual([
      "maxHeldNotifications must be a number >= 1",
    ]);
  });

  it("error: reports every invalid option at once", () => {
    expect(
      problemsOf({
        endpointUrl: "http://example.com",
        machineId: "",
        samplingInterval: -1,
        queueSize: 0,
        groupSize: 0,
        deadband: { type: "percent", value: 150 },
        badNodes: "ignore" as never,
        pkiDir: "/tmp/x",
        nodes: [
          { nodeId: "not a node id", channel: "volume", kind: "register" },
          { nodeId: "ns=1;i=5", channel: "volume", kind: "counter" as never, scale: "-1" },
        ],
      }),
    ).toEqual([
      "endpointUrl must be an opc.tcp:// URL",
      "machineId must be a non-empty string",
      "samplingInterval must be a number >= 0",
      "queueSize must be a number >= 1",
      "groupSize must be a number >= 1",
      "deadband.value must be >= 0 (and <= 100 for percent)",
      "badNodes must be error or quarantine",
      'nodes[0].nodeId "not a node id" is not a NodeId',
      "nodes[1].channel volume is used twice",
      "nodes[1].kind must be register, rate, state or value",
      "nodes[1].scale must be a positive decimal",
    ]);
  });

  it("error: without pkiDir there is no trust list, so only an explicit None connects", () => {
    const { pkiDir: _, ...noPki } = valid;
    expect(problemsOf(noPki)).toEqual([
      "pkiDir is required (the server trust list and the client certificate live there) unless security.mode is None or a certificateManager is given",
    ]);
    expect(problemsOf({ ...noPki, security: { mode: "None" } })).toEqual([]);
  });

  it("error: security options are checked, and security cannot be set around them", () => {
    expect(
      problemsOf({
        ...valid,
        security: {
          mode: "Encrypt" as never,
          policy: "Basic999" as never,
          trust: "always" as never,
          user: { type: "userName", userName: "", password: 1 as never },
          accept: true,
        } as never,
        clientOptions: { securityMode: 1, serverCertificate: Buffer.alloc(1) },
      }),
    ).toEqual([
      "security.accept is not a known option (mode, policy, trust, user)",
      "security.mode must be auto, SignAndEncrypt, Sign or None",
      "security.policy must be auto or one of Aes256_Sha256_RsaPss, Basic256Sha256, Aes128_Sha256_RsaOaep, Basic256, Basic128Rsa15",
      "security.trust must be list or firstUse",
      "security.user.userName must be a non-empty string",
      "security.user.password must be a string",
      "clientOptions.securityMode is not allowed: set security (or certificateManager) instead",
      "clientOptions.serverCertificate is not allowed: set security (or certificateManager) instead",
    ]);
    expect(problemsOf({ ...valid, security: { mode: "None", policy: "Basic256Sha256" } })).toEqual([
      "security.policy must be absent with mode None",
    ]);
  });

  it("error: an empty node list is rejected", () => {
    expect(problemsOf({ ...valid, nodes: [] })).toEqual(["nodes must be a non-empty array"]);
  });
});
