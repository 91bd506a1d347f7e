import { readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { DashboardCharts } from "./chartSeries.js";

/** What the dashboard shows; plain JSON (decimals as strings) pushed to the page. */
export interface DashboardSnapshot {
  readonly machineId: string;
  readonly simulatedTime?: string;
  readonly live: {
    readonly flow?: string;
    readonly flowUnit?: string;
    readonly volumeRegister?: string;
    readonly state?: string;
  };
  readonly records: readonly {
    readonly seq: string;
    readonly periodStart: string;
    readonly periodEnd: string;
    readonly volume: string;
    readonly flags: string;
    readonly verified: "valid" | "invalid" | "pending";
    readonly acknowledged: boolean;
  }[];
  readonly recordsTotal: number;
  readonly invoice?: {
    readonly period: string;
    readonly currency: string;
    readonly lines: readonly { readonly label: string; readonly amount: string }[];
    readonly total: string;
    readonly final: boolean;
  };
  readonly oee?: {
    readonly availability?: string;
    readonly effectiveness?: string;
    readonly quality?: string;
    readonly oee?: string;
  };
  readonly maintenance: {
    readonly status: string;
    readonly workOrders: readonly {
      readonly id: string;
      readonly state: string;
      readonly serviceType: string;
      readonly amount?: string;
    }[];
  };
  readonly ledger: {
    readonly backend: string;
    readonly healthy: boolean;
    readonly detail?: string;
  };
  /** The charts' series (flow, volume, usage against the tiers, OEE, filter pressure). */
  readonly charts?: DashboardCharts;
}

export interface Dashboard {
  readonly url: string;
  /** Replaces the snapshot and pushes it to every open page. */
  update(snapshot: DashboardSnapshot): void;
  close(): Promise<void>;
}

/** Where the dashboard listens and which names it answers to. */
export interface DashboardOptions {
  /** TCP port; 0 (default) picks a free one. */
  readonly port?: number;
  /**
   * Interface to bind. Default `"127.0.0.1"` (this machine only). Binding anything else
   * exposes the dashboard (read-only, but it shows billing data) to the network.
   */
  readonly host?: string;
  /**
   * Further `Host` header names (`name` or `name:port`) to answer, e.g. the gateway's DNS
   * name when bound to a LAN interface. The bound address and, on loopback, `localhost`,
   * `127.0.0.1` and `[::1]` (each with the bound port) are always allowed.
   */
  readonly allowedHosts?: readonly string[];
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/**
 * Serves the dashboard page on 127.0.0.1 (`port` 0 = a free port). The page receives
 * snapshots as server-sent events at `/events`; `/state` returns the current snapshot.
 *
 * Every request's `Host` header must name the dashboard itself (the bound host:port, or
 * `localhost:port` on loopback, or one of `allowedHosts`); any other gets `421 Misdirected
 * Request`. A web page from another site that rebinds its DNS name to 127.0.0.1 therefore
 * cannot read the dashboard through the victim's browser (DNS rebinding).
 */
export async function startDashboard(options: number | DashboardOptions = 0): Promise<Dashboard> {
  const o: DashboardOptions = typeof options === "number" ? { port: options } : options;
  const bindHost = o.host ?? "127.0.0.1";
  const html = readFileSync(new URL("./index.html", import.meta.url), "utf8");
  // uPlot, served from the installed package: the page loads nothing from another site
  const require = createRequire(import.meta.url);
  const assets: Record<string, [string, string]> = {
    "/uplot.js": [
      "text/javascript; charset=utf-8",
      readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
    ],
    "/uplot.css": [
      "text/css; charset=utf-8",
      readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8"),
    ],
    "/charts.js": [
      "text/javascript; charset=utf-8",
      readFileSync(new URL("./charts.js", import.meta.url), "utf8"),
    ],
  };
  let snapshot: DashboardSnapshot | undefined;
  const clients = new Set<ServerResponse>();
  let allowed = new Set<string>();
  const server = createServer((req, res) => {
    const host = (req.headers.host ?? "").toLowerCase();
    if (!allowed.has(host)) {
      res
        .writeHead(421, { "content-type": "text/plain; charset=utf-8", connection: "close" })
        .end(
          `misdirected request: this dashboard does not answer to host ${JSON.stringify(host)}\n`,
        );
      return;
    }
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
    } else if (path !== undefined && assets[path] !== undefined) {
      const [type, body] = assets[path]!;
      res.writeHead(200, { "content-type": type, "cache-control": "no-store" }).end(body);
    } else if (path === "/state") {
      res
        .writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify(snapshot ?? null));
    } else if (path === "/events") {
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      if (snapshot) res.write(`data: ${JSON.stringify(snapshot)}\n\n`);
      clients.add(res);
      req.on("close", () => clients.delete(res));
    } else {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(o.port ?? 0, bindHost, () => ok());
  });
  const { port: actual } = server.address() as AddressInfo;
  const hostName = bindHost.includes(":") && !bindHost.startsWith("[") ? `[${bindHost}]` : bindHost;
  const wildcard = bindHost === "0.0.0.0" || bindHost === "::";
  // on loopback (and on a wildcard, which includes it) this machine's own names
  const names = LOOPBACK.has(bindHost) || wildcard ? ["127.0.0.1", "localhost", "[::1]"] : [];
  if (!wildcard) names.push(hostName);
  allowed = new Set(
    [
      ...names.map((n) => `${n}:${actual}`),
      ...(o.allowedHosts ?? []).map((h) => (/:\d+$/.test(h) ? h : `${h}:${actual}`)),
    ].map((h) => h.toLowerCase()),
  );
  const urlHost = wildcard ? "127.0.0.1" : hostName;
  return {
    url: `http://${urlHost}:${actual}/`,
    update(next) {
      snapshot = next;
      const frame = `data: ${JSON.stringify(next)}\n\n`;
      for (const c of clients) c.write(frame);
    },
    close() {
      for (const c of clients) c.end();
      clients.clear();
      return new Promise((ok) => server.close(() => ok()));
    },
  };
}
