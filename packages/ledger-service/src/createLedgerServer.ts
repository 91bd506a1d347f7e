import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  isLedgerError,
  type LedgerBackend,
  type LedgerErrorCode,
  type LedgerEvent,
  ledgerError,
} from "@maaskit/settlement";
import {
  callLedgerMethod,
  decodeLedgerParams,
  encodeLedgerResult,
  isLedgerMethod,
  ledgerErrorToJson,
  ledgerMethods,
} from "@maaskit/settlement/http";
import { authorize, type Caller, callerOf, type TokenTable } from "./auth.js";
import { EventFilter } from "./eventFilter.js";
import { Metrics, RateLimiter } from "./metrics.js";
import { openApiDocument } from "./openApi.js";

/** Bounds of the service; every one has a default. */
export interface LedgerServerLimits {
  /** Largest request body in bytes (default 1 MiB); larger: 413. */
  readonly maxBodyBytes?: number;
  /** Requests per second per token (default 200), in bursts of up to `burst`; beyond: 429. */
  readonly ratePerSecond?: number;
  /** Default 2 × `ratePerSecond`. */
  readonly burst?: number;
  /** A request must arrive whole within this many ms (default 30 000). */
  readonly requestTimeoutMs?: number;
  /** Longest wait of one long-poll for events, in seconds (default 25). */
  readonly maxWaitSeconds?: number;
}

/** Options of `createLedgerServer`. */
export interface LedgerServerParameters {
  /** The ledger the service exposes (embedded, PostgreSQL, …). Not closed by the server. */
  readonly backend: LedgerBackend;
  /** The bearer tokens of the callers (`tokenTable`). */
  readonly auth: TokenTable;
  readonly limits?: LedgerServerLimits;
}

/** The service's HTTP server (not listening yet) and its metrics. */
export interface LedgerServer extends Server {
  /** The Prometheus text `/metrics` serves. */
  readonly metrics: Metrics;
}

/** HTTP status of a ledger error code: the body carries the code itself. */
function statusOf(code: string): number {
  const last = code.slice(code.lastIndexOf(".") + 1);
  if (last === "unauthorized") return 403;
  if (last === "notFound") return 404;
  if (last === "conflict") return 409;
  if (last === "invalid" || last === "invalidAmount") return 400;
  if (last === "unavailable" || last === "locked" || last === "closed") return 503;
  if (last === "corrupt") return 500;
  return 422;
}

class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The maaskit ledger service: the whole `LedgerBackend` port over HTTP and JSON
 * (`POST /v1/ledger/{method}`, the `maaskit.ledger/1` protocol table; see openapi.json and
 * docs/ledger-service.md). Callers authenticate with bearer tokens mapped to a party
 * address (a party acts only as itself), a relayer or the operator; bodies, rates and
 * request times are bounded; a refusal keeps the port's error code in the JSON body.
 * `GET /healthz`, `GET /metrics` (Prometheus) and `GET /openapi.json` need no token.
 *
 * @example
 * ```ts
 * const server = createLedgerServer({ backend: embeddedLedger({ dir }), auth: tokenTable(json) })
 * server.listen(8545, "127.0.0.1")
 * ```
 */
export function createLedgerServer(params: LedgerServerParameters): LedgerServer {
  const { backend, auth } = params;
  const limits = params.limits ?? {};
  const maxBody = limits.maxBodyBytes ?? 1024 * 1024;
  const rate = limits.ratePerSecond ?? 200;
  const limiter = new RateLimiter(rate, limits.burst ?? rate * 2);
  const maxWait = limits.maxWaitSeconds ?? 25;
  const metrics = new Metrics();
  const filter = new EventFilter(backend);
  const waiters = new Set<() => void>();
  let closing = false;
  const wake = () => {
    for (const w of waiters) w();
    waiters.clear();
  };
  const subscription = backend.events$.subscribe({ next: wake, error: wake, complete: wake });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (req.method === "GET" && url.pathname === "/healthz") {
      return send(res, 200, { ok: true, kind: backend.kind });
    }
    if (req.method === "GET" && url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(metrics.render());
      return;
    }
    if (req.method === "GET" && url.pathname === "/openapi.json") {
      return send(res, 200, openApiDocument());
    }
    const name = url.pathname.startsWith("/v1/ledger/") ? url.pathname.slice(11) : undefined;
    if (name === undefined || !isLedgerMethod(name)) {
      throw new HttpProblem(404, "ledgerService.route.notFound", "No such route");
    }
    if (req.method !== "POST") {
      throw new HttpProblem(405, "ledgerService.route.method", "Use POST", { allow: "POST" });
    }
    const header = req.headers.authorization;
    const token = header?.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
    const caller = callerOf(auth, token);
    if (caller === undefined) {
      throw new HttpProblem(401, "settlement.http.unauthenticated", "Unknown or missing token", {
        "www-authenticate": "Bearer",
      });
    }
    const waitMs = limiter.take(caller.name);
    if (waitMs > 0) {
      throw new HttpProblem(429, "settlement.ledger.unavailable", "Too many requests", {
        "retry-after": String(Math.ceil(waitMs / 1000)),
      });
    }
    const body = await readBody(req, maxBody, ledgerMethods[name].invalid);
    const args = decodeLedgerParams(name, body);
    await authorize(backend, caller, name, args as never);
    const result =
      name === "getEvents"
        ? await eventsPage(caller, (args as { from?: number }).from ?? 0, url, res)
        : await callLedgerMethod(backend, name, args as never);
    if (name === "submitRecords") {
      const r = result as { accepted: number; duplicates: number };
      metrics.records(r.accepted, r.duplicates);
    }
    send(res, 200, { ok: true, result: encodeLedgerResult(name, result as never) });
  }

  async function eventsPage(caller: Caller, from: number, url: URL, res: ServerResponse) {
    const wait = Math.min(maxWait, Math.max(0, Number(url.searchParams.get("wait") ?? 0) || 0));
    let all: readonly LedgerEvent[] = await backend.getEvents();
    if (all.length <= from && wait > 0 && !closing) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, wait * 1000);
        waiters.add(done);
        res.once("close", done);
      });
      all = await backend.getEvents();
    }
    const events = await filter.visible(caller, all.slice(from));
    return { from, total: all.length, events };
  }

  const requestTimeout = limits.requestTimeoutMs ?? 30_000;
  // a request must arrive whole in time (a slow sender holds no connection for long); Node
  // checks every `connectionsCheckingInterval` ms
  const timeouts = {
    requestTimeout,
    headersTimeout: Math.min(requestTimeout, 10_000),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, requestTimeout / 4)),
  };
  const server = createServer(timeouts, (req, res) => {
    const started = performance.now();
    const name = (req.url ?? "").split("?")[0]?.replace(/^\/v1\/ledger\//, "") ?? "";
    const route = isLedgerMethod(name) ? name : (req.url ?? "").split("?")[0] || "/";
    res.once("finish", () => {
      const knownRoute =
        isLedgerMethod(name) || ["/healthz", "/metrics", "/openapi.json"].includes(route);
      metrics.observe(
        knownRoute ? route : "other",
        res.statusCode,
        (performance.now() - started) / 1000,
      );
    });
    handle(req, res).catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpProblem) {
        send(
          res,
          err.status,
          { ok: false, error: { code: err.code, message: err.message, details: {} } },
          err.headers,
        );
        return;
      }
      const error = ledgerErrorToJson(err);
      send(res, isLedgerError(err) ? statusOf(error.code) : 500, { ok: false, error });
    });
  }) as LedgerServer;
  Object.defineProperty(server, "metrics", { value: metrics });
  const close = server.close.bind(server);
  server.close = (cb?: (err?: Error) => void) => {
    closing = true;
    subscription.unsubscribe();
    wake();
    return close(cb);
  };
  return server;
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage, max: number, invalid: LedgerErrorCode) {
  return new Promise<unknown>((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > max) {
      req.resume();
      reject(
        new HttpProblem(413, invalid, `The body is larger than ${max} bytes`, {
          connection: "close",
        }),
      );
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(
          new HttpProblem(413, invalid, `The body is larger than ${max} bytes`, {
            connection: "close",
          }),
        );
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(text === "" ? {} : JSON.parse(text));
      } catch {
        reject(ledgerError(invalid, "The body is not JSON", {}));
      }
    });
  });
}
