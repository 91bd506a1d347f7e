// The OPC UA source of `maaskit-gateway run`: the profile's channels subscribed, and every
// connect failure a later attempt can cure retried with exponential backoff.
import { join } from "node:path";
import type { MeterEvent, UnitCode } from "@maaskit/metering";
import type { OpcUaSecurityOptions } from "@maaskit/metering/opcua";
import { defer, from, type Observable, retry, switchMap, throwError, timer } from "rxjs";
import type { GatewayConfig } from "../config/gatewayConfig.js";
import type { MachineProfile } from "../machineProfile.js";
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

/** What `opcuaProfileSource` needs: the machine's endpoint and profile, and how to connect. */
export interface OpcuaProfileSourceOptions {
  readonly endpointUrl: string;
  readonly machineId: string;
  /** Which nodes to subscribe (every profile channel, by NodeId) and their state names. */
  readonly profile: MachineProfile;
  /** The client's PKI: its certificate, and the trust list of server certificates. */
  readonly pkiDir: string;
  /** Default 20 ms. */
  readonly samplingIntervalMs?: number;
  /** Default 50 ms. */
  readonly publishingIntervalMs?: number;
  readonly sessionTimeoutMs?: number;
  /** `fromOpcUa`'s security options (default: the strongest the server offers, trust list). */
  readonly security?: OpcUaSecurityOptions;
  /** Backoff between connect attempts (default 500 ms doubling up to 30 s), forever. */
  readonly reconnect?: { readonly initialDelayMs: number; readonly maxDelayMs: number };
  /** Structured log lines (`opcua.retrying`, `opcua.security`, `opcua.warning`). */
  readonly log?: (e: { event: string; [k: string]: unknown }) => void;
}

/**
 * The machine's readings over OPC UA, for `createGateway(…).meter()`: every channel of the
 * profile subscribed by its NodeId (state codes named by `profile.stateNames`); a failed
 * connect (server not up yet, a session refused with `BadTooManySessions`) is retried with
 * backoff forever, and so is a connection that cannot be re-established — the register is
 * re-read on every connect, so counting bridges the gap. Any other error (an untrusted server
 * certificate, a rejected identity, a missing node) ends the stream. Needs the optional peer
 * `node-opcua` only when subscribed.
 */
export function opcuaProfileSource(o: OpcuaProfileSourceOptions): Observable<MeterEvent> {
  const { profile } = o;
  const log = o.log ?? (() => undefined);
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
  const { initialDelayMs, maxDelayMs } = o.reconnect ?? { initialDelayMs: 500, maxDelayMs: 30_000 };
  return defer(() => from(import("@maaskit/metering/opcua"))).pipe(
    switchMap(({ fromOpcUa }) =>
      fromOpcUa({
        endpointUrl: o.endpointUrl,
        machineId: o.machineId,
        nodes,
        samplingInterval: o.samplingIntervalMs ?? 20,
        publishingInterval: o.publishingIntervalMs ?? 50,
        queueSize: 1000,
        pkiDir: o.pkiDir,
        connect: { maxRetry: 1, initialDelay: 250, maxDelay: 1000 },
        ...(o.sessionTimeoutMs
          ? { clientOptions: { requestedSessionTimeout: o.sessionTimeoutMs } }
          : {}),
        // fromOpcUa is secure by default (strongest mode, server certificate from the trust
        // list in pkiDir); `security` is passed through as it is.
        ...(o.security ? { security: o.security } : {}),
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

/** The OPC UA source of `maaskit-gateway run`: `opcuaProfileSource` as the config says. */
export function opcuaSource(
  config: GatewayConfig,
  log: ReturnType<typeof logger>,
): Observable<MeterEvent> {
  return opcuaProfileSource({
    endpointUrl: config.endpoint,
    machineId: config.machineId,
    profile: config.profile,
    pkiDir: join(config.dataDir, "pki"),
    samplingIntervalMs: config.opcua.samplingIntervalMs,
    publishingIntervalMs: config.opcua.publishingIntervalMs,
    ...(config.opcua.sessionTimeoutMs ? { sessionTimeoutMs: config.opcua.sessionTimeoutMs } : {}),
    ...(config.opcua.security ? { security: config.opcua.security as OpcUaSecurityOptions } : {}),
    reconnect: config.opcua.reconnect,
    log,
  });
}
