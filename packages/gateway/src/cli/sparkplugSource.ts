// The Sparkplug B source of `maaskit-gateway run` (`source.type: "sparkplug"`).
import type { MeterEvent, UnitCode } from "@maaskit/metering";
import { defer, from, type Observable, switchMap } from "rxjs";
import type { GatewayConfig } from "../config/gatewayConfig.js";
import type { logger } from "./common.js";

/**
 * The machine's readings from a Sparkplug B edge node (`source.type: "sparkplug"`): each mapped
 * profile channel read from its birth metric; deaths, rebirths and broker restarts become
 * register-bridged gaps (fromSparkplug), so counting loses nothing.
 */
export function sparkplugSource(
  config: GatewayConfig,
  log: ReturnType<typeof logger>,
): Observable<MeterEvent> {
  const source = config.source;
  if (source.type !== "sparkplug") throw new Error("not a Sparkplug source");
  const { profile } = config;
  const states = profile.stateNames
    ? Object.fromEntries(Object.entries(profile.stateNames).map(([k, v]) => [Number(k), v]))
    : undefined;
  const metrics = Object.entries(source.metrics).map(([channel, m]) => {
    const c = profile.channels[channel];
    return {
      name: m.name,
      channel,
      ...(m.deviceId ? { deviceId: m.deviceId } : {}),
      ...(m.scale ? { scale: m.scale } : {}),
      ...(c?.unit ? { unit: c.unit as UnitCode } : {}),
      ...(c?.kind === "state" && states ? { states } : {}),
    };
  });
  return defer(() => from(import("@maaskit/metering/sparkplug"))).pipe(
    switchMap(({ fromSparkplug }) =>
      fromSparkplug({
        brokerUrl: source.brokerUrl,
        groupId: source.groupId,
        edgeNodeId: source.edgeNodeId,
        ...(source.deviceId ? { deviceId: source.deviceId } : {}),
        hostId: source.hostId,
        machineId: config.machineId,
        metrics,
        ...(source.reorderTimeoutMs !== undefined
          ? { reorderTimeoutMs: source.reorderTimeoutMs }
          : {}),
        ...(source.rebirthCooldownMs !== undefined
          ? { rebirthCooldownMs: source.rebirthCooldownMs }
          : {}),
        onHostEvent: (e) => {
          if (e.kind === "rebirthRequested" || e.kind === "offline" || e.kind === "resync")
            log({ event: `sparkplug.${e.kind}`, ...e, at: String(e.at) });
        },
      }),
    ),
  );
}
