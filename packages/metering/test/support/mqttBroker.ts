import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";

/** A broker the tests run against. */
export interface TestBroker {
  readonly url: string;
  readonly kind: "MQTT_URL" | "aedes";
  stop(): Promise<void>;
}

/** An in-process aedes broker on 127.0.0.1 that can be restarted on the same port (state lost). */
export interface AedesBroker extends TestBroker {
  readonly port: number;
  /** Closes every connection and the broker, then starts a fresh broker on the same port. */
  restart(downMs?: number): Promise<void>;
}

export async function startAedesBroker(port = 0): Promise<AedesBroker> {
  let broker: Aedes;
  let server: Server;
  const sockets = new Set<Socket>();
  async function listen(p: number): Promise<number> {
    broker = await Aedes.createBroker();
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      broker.handle(socket);
    });
    server.listen(p, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    return typeof address === "object" && address !== null ? address.port : p;
  }
  async function close(): Promise<void> {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }
  const actual = await listen(port);
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    kind: "aedes",
    port: actual,
    async restart(downMs = 300) {
      await close();
      await new Promise((r) => setTimeout(r, downMs));
      await listen(actual);
    },
    stop: close,
  };
}

/** The broker at MQTT_URL (Mosquitto here and in CI), else an in-process aedes; says which. */
export async function startTestBroker(): Promise<TestBroker> {
  const url = process.env.MQTT_URL;
  if (url !== undefined && url !== "") {
    console.log(`MQTT tests run against MQTT_URL=${url}`);
    return { url, kind: "MQTT_URL", stop: async () => {} };
  }
  const b = await startAedesBroker();
  console.log(`MQTT_URL unset: MQTT tests run against an in-process aedes broker at ${b.url}`);
  return b;
}

let counter = 0;
/** A group id no other test (or earlier run on a shared broker) uses. */
export function uniqueGroupId(prefix: string): string {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}
