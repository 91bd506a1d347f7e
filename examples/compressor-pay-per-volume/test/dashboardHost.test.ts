// The dashboard against DNS rebinding: it binds loopback by default and answers only to its own
// host names, whatever name the request arrived under.
import { request } from "node:http";
import { describe, expect, it } from "vitest";
import { startDashboard } from "../src/dashboard/server.js";

/** A raw HTTP GET to 127.0.0.1:port with the given Host header (as a rebound browser sends it). */
function get(port: number, path: string, host: string | undefined) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "GET",
        headers: host === undefined ? {} : { host },
        setHost: host !== undefined,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
          // /events never ends: the first frame is enough
          if (path === "/events" && body.includes("\n\n")) res.destroy();
        });
        res.on("close", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const snapshot = {
  machineId: "compressor-1",
  live: { volumeRegister: "1234.5" },
  records: [],
  recordsTotal: 0,
  maintenance: { status: "ok", workOrders: [] },
  ledger: { backend: "embedded", healthy: true },
};

describe("dashboard Host check", () => {
  it("default: binds 127.0.0.1 and serves its own names", async () => {
    const d = await startDashboard();
    try {
      const { hostname, port: p } = new URL(d.url);
      const port = Number(p);
      expect(hostname).toBe("127.0.0.1");
      d.update(snapshot);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
        const r = await get(port, "/state", host);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).live.volumeRegister).toBe("1234.5");
      }
    } finally {
      await d.close();
    }
  });

  it("error: a forged or rebound Host header gets 421 and no data, on every path", async () => {
    const d = await startDashboard(0);
    try {
      const port = Number(new URL(d.url).port);
      d.update(snapshot);
      const forged = [
        `attacker.example:${port}`, // DNS rebinding: the attacker's name now points at 127.0.0.1
        "attacker.example",
        `127.0.0.1:${port + 1}`, // another port is another origin
        `localhost.attacker.example:${port}`,
      ];
      for (const host of forged) {
        for (const path of ["/", "/state", "/events"]) {
          const r = await get(port, path, host);
          expect([host, path, r.status]).toEqual([host, path, 421]);
          expect(r.body).not.toContain("1234.5");
        }
      }
      // no Host header at all: node's HTTP server already answers 400 (requireHostHeader)
      const none = await get(port, "/state", undefined);
      expect(none.status).toBe(400);
      expect(none.body).not.toContain("1234.5");
    } finally {
      await d.close();
    }
  });

  it("args: allowedHosts adds names explicitly", async () => {
    const d = await startDashboard({ port: 0, allowedHosts: ["gateway-7.plant.local"] });
    try {
      const port = Number(new URL(d.url).port);
      expect((await get(port, "/state", `gateway-7.plant.local:${port}`)).status).toBe(200);
      expect((await get(port, "/state", `gateway-8.plant.local:${port}`)).status).toBe(421);
    } finally {
      await d.close();
    }
  });
});
