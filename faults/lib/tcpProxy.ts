import { connect, createServer, type Server, type Socket } from "node:net";

/** A TCP proxy on 127.0.0.1 that the harness can cut, like a pulled cable or a dead switch. */
export interface TcpProxy {
  readonly port: number;
  /** Where connections go (set before the first client connects). */
  setTarget(port: number): void;
  /**
   * Cuts the network: resets every open connection and refuses new ones for `downMs`,
   * then accepts again on the same port.
   */
  cut(downMs: number): Promise<void>;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Starts a small node:net proxy (no buffering logic: bytes are piped both ways). */
export async function startTcpProxy(): Promise<TcpProxy> {
  let target = 0;
  let accepted = 0;
  const open = new Set<Socket>();
  const onConnection = (client: Socket) => {
    accepted++;
    const upstream = connect(target, "127.0.0.1");
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  };
  const listen = (port: number) =>
    new Promise<Server>((resolve, reject) => {
      const s = createServer(onConnection);
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve(s));
    });
  let server = await listen(0);
  const port = (server.address() as { port: number }).port;
  const closeServer = (s: Server) => new Promise<void>((r) => s.close(() => r()));
  return {
    port,
    get accepted() {
      return accepted;
    },
    setTarget(p) {
      target = p;
    },
    async cut(downMs) {
      const closing = closeServer(server);
      for (const s of open) s.resetAndDestroy();
      open.clear();
      await closing;
      await new Promise((r) => setTimeout(r, downMs));
      server = await listen(port);
    },
    async close() {
      for (const s of open) s.destroy();
      await closeServer(server);
    },
  };
}
