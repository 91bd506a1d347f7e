import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";

/** A broker the tests run against. */
export interface TestBroker {
  readonly url: string;
  readonly kind: "MQTT_URL" | "aedes";
  stop(): Promise<void>;
}

/** A broker of its own on 127.0.0.1 that a test can restart on the same port (state lost). */
export interface RestartableBroker {
  readonly url: string;
  readonly kind: "mosquitto" | "aedes";
  readonly port: number;
  stop(): Promise<void>;
  /** Kills the broker (no goodbye to its clients), waits `downMs`, starts it again on the same port. */
  restart(downMs?: number): Promise<void>;
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

const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

async function accepting(port: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, "127.0.0.1");
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A Mosquitto child process of this test on a free port (`listener <port> 127.0.0.1`, anonymous,
 * no persistence), killed with SIGKILL and started again on the same port by `restart()`. Without
 * a mosquitto binary: an in-process aedes, and it says so.
 */
export async function startRestartableBroker(): Promise<RestartableBroker> {
  const bin = MOSQUITTO.find((p) => existsSync(p));
  if (bin === undefined) {
    const b = await startAedesBroker();
    console.log(
      `no mosquitto binary (looked at ${MOSQUITTO.join(", ")}): the broker restart runs on an in-process aedes at ${b.url}`,
    );
    return { ...b, kind: "aedes" };
  }
  const dir = await mkdtemp(join(tmpdir(), "maaskit-mosquitto-"));
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  await writeFile(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n`,
  );
  let child: ChildProcess | undefined;
  let stderr = "";
  async function launch(): Promise<void> {
    const c = spawn(bin!, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    c.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString("utf8");
    });
    child = c;
    try {
      await accepting(port, 10_000);
    } catch (err) {
      c.kill("SIGKILL");
      throw new Error(`mosquitto did not start on port ${port}: ${stderr.slice(-500)}`, {
        cause: err,
      });
    }
  }
  async function kill(): Promise<void> {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, "exit");
    c.kill("SIGKILL");
    await exited;
  }
  await launch();
  console.log(`broker restart on a Mosquitto of its own: ${bin} on 127.0.0.1:${port}`);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    kind: "mosquitto",
    port,
    async restart(downMs = 300) {
      await kill();
      await new Promise((r) => setTimeout(r, downMs));
      await launch();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
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
