import { MaaskitError } from "@maaskit/metering";
import { Observable, Subject } from "rxjs";
import type { LedgerBackend } from "../../ledger.js";
import { isLedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import {
  type LedgerMethod,
  type LedgerMethodArgs,
  type LedgerMethodResults,
  ledgerMethods,
} from "../protocol/ledgerMethods.js";
import {
  decodeLedgerResult,
  encodeLedgerParams,
  ledgerErrorFromJson,
} from "../protocol/ledgerProtocol.js";
import { protocolPortMethods } from "../protocol/protocolPort.js";

/** Options of `httpLedger`. */
export interface HttpLedgerParameters {
  /** Base URL of a ledger service (`maaskit-ledger serve`), e.g. `http://127.0.0.1:8545`. */
  readonly url: string;
  /**
   * The bearer token of the caller (one per party, see docs/ledger-service.md), or a function
   * choosing the token per call (a client acting for several parties).
   */
  readonly auth: string | ((method: LedgerMethod) => string);
  /** The fetch to use (default the global one). */
  readonly fetch?: typeof globalThis.fetch;
  /** Per-call timeout in ms (default 30 000); a timed-out call is `settlement.ledger.unavailable`. */
  readonly timeoutMs?: number;
  /** How long (s) one long-poll for new events waits on the server (default 20). */
  readonly pollWaitSeconds?: number;
}

/** A `LedgerBackend` that calls a maaskit ledger service over HTTP. */
export interface HttpLedger extends LedgerBackend {
  readonly kind: "http";
}

/**
 * A ledger backend talking to a ledger service over HTTP (`POST {url}/v1/ledger/{method}`,
 * JSON bodies of the `maaskit.ledger/1` protocol table). A refusal comes back with the
 * backend's own code and is rethrown with it; a network failure, a timeout, an overloaded
 * service (429, 503) are `settlement.ledger.unavailable`, which a delivery loop retries — all
 * writes are idempotent (records by seq, funds by reference), so retrying is safe. A token the
 * service does not know is `settlement.http.unauthenticated` (not retried).
 *
 * `events$` replays the service's events, then follows them by long-polling with a cursor:
 * a reconnecting client continues from the last event it saw, missing nothing and seeing
 * nothing twice.
 *
 * @example
 * ```ts
 * const ledger = httpLedger({ url: "http://127.0.0.1:8545", auth: process.env.LEDGER_TOKEN! })
 * await ledger.submitRecords({ agreementId, records })
 * ```
 */
export function httpLedger(params: HttpLedgerParameters): HttpLedger {
  const base = params.url.replace(/\/+$/, "");
  const doFetch = params.fetch ?? globalThis.fetch;
  const timeoutMs = params.timeoutMs ?? 30_000;
  const pollWait = params.pollWaitSeconds ?? 20;
  const tokenFor = (m: LedgerMethod) =>
    typeof params.auth === "function" ? params.auth(m) : params.auth;
  const history: LedgerEvent[] = [];
  let cursor = 0;
  const live = new Subject<LedgerEvent>();
  const stop = new AbortController();
  let subscribers = 0;
  let polling = false;
  let closed = false;
  let syncing: Promise<void> = Promise.resolve();

  async function call<M extends LedgerMethod>(
    method: M,
    args: LedgerMethodArgs[M],
    wait = 0,
  ): Promise<LedgerMethodResults[M]> {
    if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", { method });
    const body = JSON.stringify(encodeLedgerParams(method, args));
    const query = wait > 0 ? `?wait=${wait}` : "";
    let res: Response;
    let text: string;
    try {
      res = await doFetch(`${base}/v1/ledger/${method}${query}`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${tokenFor(method)}`,
          "content-type": "application/json",
        },
        body,
        signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs + wait * 1000)]),
      });
      text = await res.text();
    } catch (err) {
      throw ledgerError(
        "settlement.ledger.unavailable",
        "The ledger service could not be reached",
        { method, url: base },
        err,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const reply = json as { ok?: unknown; result?: unknown; error?: unknown } | undefined;
    if (res.status === 401) {
      throw new MaaskitError(
        "settlement.http.unauthenticated",
        "The ledger service refused the token",
        {
          details: { method, url: base },
        },
      );
    }
    if (reply?.ok === true && res.ok) return decodeLedgerResult(method, reply.result);
    if (reply?.ok === false) throw ledgerErrorFromJson(reply.error, method);
    throw ledgerError("settlement.ledger.unavailable", "The ledger service failed", {
      method,
      status: res.status,
    });
  }

  /** Takes one page of events: only if it starts at the cursor (else a newer page got there). */
  function take(page: LedgerMethodResults["getEvents"]): void {
    if (page.from !== cursor) return;
    cursor = page.total;
    for (const e of page.events) {
      history.push(e);
      live.next(e);
    }
  }

  function sync(wait = 0): Promise<void> {
    const run = async () => {
      if (!closed) take(await call("getEvents", { from: cursor }, wait));
    };
    const next = syncing.then(run, run);
    if (wait === 0) syncing = next;
    return next;
  }

  async function poll(): Promise<void> {
    if (polling) return;
    polling = true;
    try {
      while (subscribers > 0 && !closed) {
        try {
          take(await call("getEvents", { from: cursor }, pollWait));
        } catch (err) {
          if (closed) return;
          if (!isLedgerError(err, "settlement.ledger.unavailable")) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } finally {
      polling = false;
    }
  }

  async function write<M extends LedgerMethod>(
    method: M,
    args: LedgerMethodArgs[M],
  ): Promise<LedgerMethodResults[M]> {
    const result = await call(method, args);
    // Subscribers see a write's events before the write resolves, like with a local backend.
    if (subscribers > 0 && ledgerMethods[method].write) await sync().catch(() => {});
    return result;
  }

  const events$ = new Observable<LedgerEvent>((subscriber) => {
    subscribers++;
    let inner: { unsubscribe(): void } | undefined;
    let done = false;
    sync()
      .then(
        () => {
          if (done) return;
          // Snapshot and subscription in one tick: no event falls between them.
          for (const e of history.slice()) subscriber.next(e);
          if (closed) subscriber.complete();
          else {
            inner = live.subscribe(subscriber);
            poll().catch((err) => live.error(err));
          }
        },
        (err) => {
          if (!done) subscriber.error(err);
        },
      )
      .catch(() => {});
    return () => {
      done = true;
      inner?.unsubscribe();
      subscribers--;
    };
  });

  return {
    kind: "http",
    events$,
    ...protocolPortMethods(write, call),
    async close() {
      if (closed) return;
      await syncing.catch(() => {});
      closed = true;
      stop.abort();
      live.complete();
    },
  };
}
