import { readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

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
}

export interface Dashboard {
  readonly url: string;
  /** Replaces the snapshot and pushes it to every open page. */
  update(snapshot: DashboardSnapshot): void;
  close(): Promise<void>;
}

/**
 * Serves the dashboard page on 127.0.0.1 (`port` 0 = a free port). The page receives
 * snapshots as server-sent events at `/events`; `/state` returns the current snapshot.
 */
export async function startDashboard(port = 0): Promise<Dashboard> {
  const html = readFileSync(new URL("./index.html", import.meta.url), "utf8");
  let snapshot: DashboardSnapshot | undefined;
  const clients = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html);
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
    server.listen(port, "127.0.0.1", () => ok());
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}/`,
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
