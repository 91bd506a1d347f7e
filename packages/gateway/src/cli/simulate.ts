// `maaskit-gateway simulate`: the OPC 40250 compressor simulator (SIGHUP restarts its server).
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration } from "../config/gatewayConfig.js";
import { GatewayError } from "../errors.js";
import { EXIT, type GatewayCliIo, logger } from "./common.js";

export async function simulate(args: string[], io: GatewayCliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "4840" },
      accelerate: { type: "string", default: "60" },
      start: { type: "string", default: "now" },
      seed: { type: "string", default: "42" },
      "restart-downtime": { type: "string", default: "2s" },
      trust: { type: "string", multiple: true },
    },
  });
  const { startCompressorServer } = await import("@maaskit/metering/simulator");
  const startTime = values.start === "now" ? new Date() : new Date(values.start!);
  if (Number.isNaN(startTime.getTime()))
    throw new GatewayError("gateway.cli.usage", "--start must be now or an ISO time", {
      start: values.start,
    });
  const log = logger(io);
  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: Number(values.port),
    accelerate: Number(values.accelerate),
    startTime,
    seed: Number(values.seed),
    tickMs: 20,
    // Provisioning: put the simulator's certificate into these gateways' trust lists.
    trustedBy: (values.trust ?? []).map((d) => resolve(d)),
  });
  log({
    event: "simulator.started",
    endpointUrl: server.endpointUrl,
    startTime: startTime.toISOString(),
    accelerate: Number(values.accelerate),
    seed: Number(values.seed),
    nodeIds: server.nodeIds,
  });
  const downtimeMs = parseDuration(values["restart-downtime"]!) ?? 2000;
  await new Promise<void>((ok) => {
    const onHup = () => {
      log({ event: "simulator.restarting", downtimeMs });
      void server.restart({ downtimeMs }).then(() => log({ event: "simulator.restarted" }));
    };
    process.on("SIGHUP", onHup);
    const end = () => {
      process.off("SIGHUP", onHup);
      ok();
    };
    if (io.onSignal) io.onSignal(end);
    else {
      process.once("SIGINT", end);
      process.once("SIGTERM", end);
    }
  });
  await server.stop();
  log({ event: "simulator.stopped" });
  return EXIT.ok;
}
