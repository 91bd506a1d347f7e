// The OPC UA source of `maaskit-gateway run`: the profile's channels subscribed, and every
// connect failure a later attempt can cure retried with exponential backoff.
import { join } from "node:path";
import type { MeterEvent, UnitCode } from "@maaskit/metering";
import type { OpcUaSecurityOptions } from "@maaskit/metering/opcua";
import { defer, from, type Observable, retry, switchMap, throwError, timer } from "rxjs";
import type { GatewayConfig } from "../config/gatewayConfig.js";
import type { logger } from "./common.js";

/**
 * The code of an OPC UA source error a later attempt can cure — the server is not up, the
 * connection broke, or it refused a session only because it has too many
 * (`BadTooManySessions`) — else undefined (a rejected identity, a certificate that is not
 * trusted, a missing node: retrying would not help, the run ends).
 */
export function retryableOpcUaError(err: unknown): string | undefined {
  // By code, not instanceof: the opcua entry of a built @maaskit/metering bundles its own copy
  // of the error class.
  const e = err as { code?: unknown; details?: { message?: unknown } } | undefined;
  const code = e?.code;
  if (code === "metering.opcua.connectionFailed" || code === "metering.opcua.connectionLost")
    return code;
  if (
    code === "metering.opcua.sessionRejected" &&
    /BadTooManySessions/.test(String(e?.details?.message ?? ""))
  )
    return code;
  return undefined;
}

/**
 * The machine's readings over OPC UA; a failed connect (server not up yet, a session refused
 * with `BadTooManySessions`) is retried with backoff forever, and so is a connection that cannot be re-established —
 * the register is re-read on every connect, so counting bridges the gap.
 */
export function opcuaSource(
  config: GatewayConfig,
  log: ReturnType<typeof logger>,
): Observable<MeterEvent> {
  const { profile } = config;
  const states = profile.stateNames
    ? Object.fromEntries(Object.entries(profile.stateNames).map(([k, v]) => [Number(k), v]))
    : undefined;
  const nodes = Object.entries(profile.channels).map(([channel, c]) => ({
    nodeId: c.nodeId,
    channel,
    kind: c.kind,
    ...(c.unit ? { unit: c.unit as UnitCode } : {}),
    ...(c.kind === "state" && states ? { states } : {}),
  }));
  const { initialDelayMs, maxDelayMs } = config.opcua.reconnect;
  return defer(() => from(import("@maaskit/metering/opcua"))).pipe(
    switchMap(({ fromOpcUa }) =>
      fromOpcUa({
        endpointUrl: config.endpoint,
        machineId: config.machineId,
        nodes,
        samplingInterval: config.opcua.samplingIntervalMs,
        publishingInterval: config.opcua.publishingIntervalMs,
        queueSize: 1000,
        pkiDir: join(config.dataDir, "pki"),
        connect: { maxRetry: 1, initialDelay: 250, maxDelay: 1000 },
        ...(config.opcua.sessionTimeoutMs
          ? { clientOptions: { requestedSessionTimeout: config.opcua.sessionTimeoutMs } }
          : {}),
        // fromOpcUa is secure by default (strongest mode, server certificate from the trust
        // list in pkiDir); the config's `opcua.security` is passed through as it is.
        ...(config.opcua.security
          ? { security: config.opcua.security as OpcUaSecurityOptions }
          : {}),
        logger: {
          warn: (message, details) => log({ event: "opcua.warning", message, ...details }),
          info: (message, details) => log({ event: "opcua.security", message, ...details }),
        },
      }),
    ),
    retry({
      delay: (err, attempt) => {
        const code = retryableOpcUaError(err);
        if (code === undefined) return throwError(() => err);
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20));
        log({
          event: "opcua.retrying",
          attempt,
          delayMs,
          reason: code,
          message: String((err as { details?: { message?: string } }).details?.message ?? ""),
        });
        return timer(delayMs);
      },
      resetOnSuccess: true,
    }),
  );
}
