import { isMaaskitError } from "@maaskit/metering";
import { describe, expect, it } from "vitest";
import { parseDuration, parseGatewayConfig } from "./config.js";

const valid = {
  machineId: "compressor-1",
  nodes: {
    volume: { nodeId: "ns=1;s=Volume", kind: "register", unit: "MTQ", rollover: "1000000" },
  },
  agreement: "agreement.json",
  signerKeyFile: "keys/gateway.key",
};

describe("parseGatewayConfig", () => {
  it("default: resolves paths and fills defaults", () => {
    const c = parseGatewayConfig(valid, "/etc/maaskit");
    expect(c.agreementFile).toBe("/etc/maaskit/agreement.json");
    expect(c.ledger).toEqual({ type: "embedded", dir: "/etc/maaskit/.maaskit/ledger" });
    expect(c.window).toEqual({ size: "15m", timeZone: "UTC", allowedLatenessMs: 5000 });
  });

  it("error: reports every problem at once", () => {
    let err: unknown;
    try {
      parseGatewayConfig(
        {
          endpoint: "http://x",
          nodes: { volume: { kind: "counter" } },
          window: { size: "7 minutes", timeZone: "Mars/Olympus" },
          ledger: { type: "paper" },
          dashboard: { port: 70000 },
        },
        "/",
      );
    } catch (e) {
      err = e;
    }
    expect(isMaaskitError(err, "example.config.invalid")).toBe(true);
    const paths = (err as { details: { problems: { path: string }[] } }).details.problems.map(
      (p) => p.path,
    );
    expect(paths).toEqual([
      "machineId",
      "endpoint",
      "nodes.volume.nodeId",
      "nodes.volume.kind",
      "nodes",
      "window.size",
      "window.timeZone",
      "agreement",
      "signerKeyFile",
      "ledger.type",
      "dashboard.port",
    ]);
  });

  it("behavior: parses durations", () => {
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("30d")).toBe(2_592_000_000);
    expect(parseDuration("15 min")).toBeUndefined();
  });
});
