import type { PluginRegistry } from "@hyperledger/cactus-core";
import type { ICactusPlugin } from "@hyperledger/cactus-core-api";
import { Observable, Subject } from "rxjs";
import type { LedgerBackend } from "../../ledger.js";
import { isLedgerError, ledgerError } from "../../ledgerErrors.js";
import type { LedgerEvent } from "../../ledgerEvents.js";
import {
  type GetEventsResult,
  type LedgerMethod,
  type LedgerMethodArgs,
  type LedgerMethodResults,
  ledgerMethods,
} from "../protocol/ledgerMethods.js";
import {
  decodeLedgerResponse,
  encodeLedgerRequest,
  type JsonValue,
  MAASKIT_LEDGER_PROTOCOL,
} from "../protocol/ledgerProtocol.js";
import { protocolPortMethods } from "../protocol/protocolPort.js";
import { type AnyLedgerConnector, isLedgerConnectorPlugin } from "./isLedgerConnectorPlugin.js";

/** Which connector of the registry to settle through. */
export type CactusConnectorSelector = string | ((plugin: ICactusPlugin) => boolean);

/** Options of `cactusLedger`. */
export interface CactusLedgerParameters {
  /** The Cactus registry to find the connector in; looked up on every call. */
  readonly registry: Pick<PluginRegistry, "getPlugins">;
  /**
   * The connector: an instance id (tried first) or a package name, or a predicate over the
   * registry's plugins. Only plugins that are ledger connectors (`isLedgerConnectorPlugin`)
   * and speak `maaskit.ledger/1` are considered.
   */
  readonly connector: CactusConnectorSelector;
  /**
   * How often (ms) `events$` asks the connector for events written by others while it has
   * subscribers (default 1000; 0 = only after this ledger's own writes).
   */
  readonly pollInterval?: number;
}

/** A `LedgerBackend` that settles through a Cactus ledger connector. */
export interface CactusLedger extends LedgerBackend {
  readonly kind: "cactus";
  /** The connector a call would use now (it follows registry changes). */
  connector(): AnyLedgerConnector;
  /** Deploys the ledger's contracts through the connector's `deployContract`. */
  deployContracts(request?: JsonValue): Promise<unknown>;
}

/**
 * A ledger backend that finds a ledger-connector plugin in a Cactus `PluginRegistry` and
 * settles through it: every port call is one `transact` with a `maaskit.ledger/1` request
 * (see `ledgerConnectorPlugin`), contract deployment is `deployContract`. The connector is
 * looked up on every call, so replacing the registry entry switches the ledger under a
 * running settlement client without touching the gateway; while no connector is registered,
 * calls fail with `settlement.ledger.unavailable`, which a delivery loop retries.
 *
 * `events$` replays the connector's event history, then follows it (fetched after each of
 * this ledger's writes, and every `pollInterval` ms while subscribed). When the registry entry
 * changes, a connector whose history continues the one seen so far is followed on from where
 * it stands; a connector with another history is a different ledger, whose events follow from
 * its start.
 *
 * @example
 * ```ts
 * const registry = new PluginRegistry({ plugins: [ledgerConnectorPlugin(embedded, { instanceId: "ledger" })] })
 * const client = createSettlementClient({ ledger: cactusLedger({ registry, connector: "ledger" }), journal })
 * ```
 */
export function cactusLedger(params: CactusLedgerParameters): CactusLedger {
  const { registry, connector: selector } = params;
  const pollInterval = params.pollInterval ?? 1000;
  const history: LedgerEvent[] = [];
  const live = new Subject<LedgerEvent>();
  let source: AnyLedgerConnector | undefined;
  let syncing: Promise<void> = Promise.resolve();
  let subscribers = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  function resolve(): AnyLedgerConnector {
    const connectors = registry.getPlugins().filter(isLedgerConnectorPlugin);
    const found =
      typeof selector === "function"
        ? connectors.find((p) => selector(p))
        : (connectors.find((p) => p.getInstanceId() === selector) ??
          connectors.find((p) => p.getPackageName() === selector));
    if (found === undefined) {
      throw ledgerError(
        "settlement.ledger.unavailable",
        "No such ledger connector in the registry",
        {
          connector: typeof selector === "string" ? selector : "<predicate>",
        },
      );
    }
    const protocol = (found as { getMaaskitLedgerProtocol?: () => unknown })
      .getMaaskitLedgerProtocol;
    if (typeof protocol !== "function" || protocol.call(found) !== MAASKIT_LEDGER_PROTOCOL) {
      throw ledgerError(
        "settlement.ledger.unavailable",
        "The ledger connector does not speak the maaskit ledger protocol",
        {
          instanceId: found.getInstanceId(),
          packageName: found.getPackageName(),
          expected: MAASKIT_LEDGER_PROTOCOL,
        },
      );
    }
    return found;
  }

  async function transact<M extends LedgerMethod>(
    method: M,
    args: LedgerMethodArgs[M],
    via?: AnyLedgerConnector,
  ): Promise<LedgerMethodResults[M]> {
    if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", { method });
    const request = encodeLedgerRequest(method, args);
    const connector = via ?? resolve();
    let response: unknown;
    try {
      response = await connector.transact(request);
    } catch (err) {
      if (isLedgerError(err)) throw err;
      throw ledgerError(
        "settlement.ledger.unavailable",
        "The ledger connector failed",
        { method, instanceId: connector.getInstanceId() },
        err,
      );
    }
    return decodeLedgerResponse(method, response);
  }

  async function write<M extends LedgerMethod>(
    method: M,
    args: LedgerMethodArgs[M],
  ): Promise<LedgerMethodResults[M]> {
    const result = await transact(method, args);
    // Subscribers see a write's events before the write resolves, like with a local backend.
    if (subscribers > 0 && ledgerMethods[method].write) await sync().catch(() => {});
    return result;
  }

  /** Fetches new events from the connector in use; runs one at a time. */
  function sync(): Promise<void> {
    const run = async () => {
      if (closed) return;
      const connector = resolve();
      if (connector === source) {
        const got = await transact("getEvents", { from: history.length }, connector);
        emit(got.events);
        return;
      }
      const all: GetEventsResult = await transact("getEvents", { from: 0 }, connector);
      const continues =
        all.events.length >= history.length &&
        history.every((e, i) => JSON.stringify(e) === JSON.stringify(all.events[i]));
      if (!continues) history.length = 0;
      source = connector;
      emit(all.events.slice(history.length));
    };
    syncing = syncing.then(run, run);
    return syncing;
  }

  function emit(events: readonly LedgerEvent[]): void {
    for (const e of events) {
      history.push(e);
      live.next(e);
    }
  }

  const events$ = new Observable<LedgerEvent>((subscriber) => {
    subscribers++;
    if (subscribers === 1 && pollInterval > 0) {
      timer = setInterval(() => {
        sync().catch(() => {});
      }, pollInterval);
      timer.unref?.();
    }
    let inner: { unsubscribe(): void } | undefined;
    let done = false;
    sync()
      .catch((err) => {
        // No connector yet: start from what was seen; polling catches up later.
        if (isLedgerError(err)) return;
        done = true;
        subscriber.error(err);
      })
      .finally(() => {
        if (done || closed) {
          if (closed) {
            for (const e of history.slice()) subscriber.next(e);
            subscriber.complete();
          }
          return;
        }
        // Snapshot and subscription in one tick: no event falls between them.
        for (const e of history.slice()) subscriber.next(e);
        inner = live.subscribe(subscriber);
      });
    return () => {
      done = true;
      inner?.unsubscribe();
      subscribers--;
      if (subscribers === 0 && timer !== undefined) {
        clearInterval(timer);
        timer = undefined;
      }
    };
  });

  return {
    kind: "cactus",
    events$,
    connector: resolve,
    deployContracts: async (request) => {
      if (closed) throw ledgerError("settlement.ledger.closed", "The ledger is closed", {});
      const connector = resolve();
      try {
        return await connector.deployContract(request ?? null);
      } catch (err) {
        if (isLedgerError(err)) throw err;
        throw ledgerError(
          "settlement.ledger.unavailable",
          "Contract deployment through the connector failed",
          { instanceId: connector.getInstanceId() },
          err,
        );
      }
    },

    ...protocolPortMethods(write, transact),

    async close() {
      if (closed) return;
      await syncing.catch(() => {});
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      live.complete();
    },
  };
}
