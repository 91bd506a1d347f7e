// A node-opcua server with `count` Double variables that all change every `intervalMs`.
// Run by opcua.bench.ts as a child process; prints one JSON line when ready; stops on SIGTERM.
import { createServer } from "node:net";
import {
  DataType,
  nodesets,
  OPCUACertificateManager,
  OPCUAServer,
  StatusCodes,
  Variant,
} from "node-opcua";

const { count, intervalMs, pkiDir } = JSON.parse(process.argv[2]);

const port = await new Promise((resolve, reject) => {
  const s = createServer();
  s.once("error", reject);
  s.listen(0, "127.0.0.1", () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});

const certificateManager = new OPCUACertificateManager({
  rootFolder: pkiDir,
  automaticallyAcceptUnknownCertificate: true,
});
const server = new OPCUAServer({
  port,
  host: "127.0.0.1",
  hostname: "127.0.0.1",
  resourcePath: "/UA/Bench",
  nodeset_filename: [nodesets.standard],
  serverCertificateManager: certificateManager,
  userCertificateManager: certificateManager,
  // Without this the server coalesces changes to 50 ms (see docs/toolchain.md).
  serverCapabilities: { minSupportedSampleRate: 0 },
  disableDiscovery: true,
});
await server.initialize();
const ns = server.engine.addressSpace.getOwnNamespace();
const folder = ns.addObject({
  browseName: "Bench",
  nodeId: "s=Bench",
  organizedBy: server.engine.addressSpace.rootFolder.objects,
});
const variables = [];
for (let i = 0; i < count; i++) {
  variables.push(
    ns.addVariable({
      componentOf: folder,
      browseName: `v${i}`,
      nodeId: `s=Bench.v${i}`,
      dataType: "Double",
      value: { dataType: DataType.Double, value: 0 },
    }),
  );
}
await server.start();

let tick = 0;
let changes = 0;
setInterval(() => {
  tick++;
  const now = new Date();
  for (let i = 0; i < count; i++) {
    // Three decimals, like a flow reading (12.345 m³/min), never the same twice in a row.
    const value = ((tick * 7 + i * 13) % 100_000) / 1000;
    variables[i].setValueFromSource(
      new Variant({ dataType: DataType.Double, value }),
      StatusCodes.Good,
      now,
    );
  }
  changes += count;
}, intervalMs);

process.stdout.write(
  `${JSON.stringify({ ready: true, endpointUrl: `opc.tcp://127.0.0.1:${port}/UA/Bench`, nodeIds: variables.map((_, i) => `ns=1;s=Bench.v${i}`) })}\n`,
);
process.on("SIGTERM", () => {
  process.stderr.write(`server: ${changes} changes pushed\n`);
  server.shutdown(0).then(
    () => process.exit(0),
    () => process.exit(0),
  );
});
