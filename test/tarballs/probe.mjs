// Runs inside a temporary app that installed the packed @maaskit tarballs with npm (see
// tarballs.test.ts). Imports every entry of every installed @maaskit package in ESM and CJS,
// throws errors from one entry (and format) and catches them with another, and calls what
// needs an optional peer dependency. Writes one JSON report to the file named by its argument
// (not stdout: node-opcua logs there).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const scope = join(process.cwd(), "node_modules", "@maaskit");

function describeError(err) {
  return {
    name: err?.name,
    code: err?.code,
    message: String(err?.message ?? err).split("\n")[0],
    package: err?.details?.package,
  };
}

// 1. every entry of every package, in every format its exports map offers
const entries = [];
const licenses = {};
const packages = readdirSync(scope).sort();
for (const name of packages) {
  const manifest = JSON.parse(readFileSync(join(scope, name, "package.json"), "utf8"));
  licenses[name] = {
    declared: manifest.license,
    file: existsSync(join(scope, name, "LICENSE")),
    changelog: existsSync(join(scope, name, "CHANGELOG.md")),
  };
  const optionalPeers = Object.entries(manifest.peerDependenciesMeta ?? {})
    .filter(([, meta]) => meta.optional)
    .map(([peer]) => peer);
  for (const [subpath, target] of Object.entries(manifest.exports ?? { ".": {} })) {
    if (subpath === "./package.json") continue;
    const specifier = subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
    const formats = typeof target === "string" ? ["import", "require"] : Object.keys(target);
    // a JSON export (such as a JSON Schema) is imported as JSON, as an app must
    const json = subpath.endsWith(".json") ? { with: { type: "json" } } : undefined;
    for (const format of ["import", "require"].filter((f) => formats.includes(f))) {
      try {
        const mod = format === "import" ? await import(specifier, json) : require(specifier);
        entries.push({ specifier, format, ok: true, exports: Object.keys(mod).length });
      } catch (err) {
        entries.push({ specifier, format, ok: false, optionalPeers, error: describeError(err) });
      }
    }
  }
}

// 2. one error identity: thrown by one entry and format, caught with another
const esm = {
  metering: await import("@maaskit/metering"),
  opcua: await import("@maaskit/metering/opcua"),
  simulator: await import("@maaskit/metering/simulator"),
  sparkplug: await import("@maaskit/metering/sparkplug"),
  mqtt: await import("@maaskit/metering/mqtt"),
  settlement: await import("@maaskit/settlement"),
  cactus: await import("@maaskit/settlement/cactus"),
  anvil: await import("@maaskit/settlement/anvil"),
  maintenance: await import("@maaskit/maintenance"),
};
const cjs = {
  metering: require("@maaskit/metering"),
  opcua: require("@maaskit/metering/opcua"),
  sparkplug: require("@maaskit/metering/sparkplug"),
  mqtt: require("@maaskit/metering/mqtt"),
  settlement: require("@maaskit/settlement"),
  maintenance: require("@maaskit/maintenance"),
};

async function caught(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

function identity(err) {
  return {
    ...describeError(err),
    esmInstanceof: err instanceof esm.metering.MaaskitError,
    cjsInstanceof: err instanceof cjs.metering.MaaskitError,
    esmIs: esm.metering.isMaaskitError(err),
    cjsIs: cjs.metering.isMaaskitError(err),
  };
}

const validOpcUa = {
  endpointUrl: "opc.tcp://127.0.0.1:4840",
  machineId: "m1",
  pkiDir: "./pki", // secure by default: the trust list lives there (nothing is created until subscribed)
  nodes: [{ nodeId: "ns=1;s=V", channel: "volume", unit: "MTQ", kind: "register" }],
};
// nothing listens on port 1: with the peers installed, subscribing loads the Sparkplug codec
// from the built dist (the first-connect timer starts only once it loaded), then fails to connect
const validSparkplug = {
  brokerUrl: "mqtt://127.0.0.1:1",
  groupId: "plant1",
  edgeNodeId: "edge1",
  deviceId: "compressor",
  hostId: "probe",
  metrics: [{ name: "Volume", channel: "volume", unit: "MTQ", scale: "0.001" }],
  connectTimeoutMs: 300,
  reconnectPeriodMs: 100,
};
const validMqtt = {
  brokerUrl: "mqtt://127.0.0.1:1",
  machineId: "m1",
  topics: [{ topic: "plant/volume", channel: "volume", unit: "MTQ" }],
  connectTimeoutMs: 300,
  reconnectPeriodMs: 100,
};
const streamError = (source) =>
  new Promise((resolve, reject) => {
    source.subscribe({ error: reject, complete: resolve });
  });
const thrown = {
  esmQuantity: await caught(() => esm.metering.quantity("abc", "MTQ")),
  cjsQuantity: await caught(() => cjs.metering.quantity("abc", "MTQ")),
  esmSettlement: await caught(() => esm.settlement.parseAgreement({})),
  cjsSettlement: await caught(() => cjs.settlement.parseAgreement({})),
  esmMaintenance: await caught(() =>
    esm.maintenance.intervalTrigger({ conditionId: "c", every: {} }),
  ),
  cjsMaintenance: await caught(() =>
    cjs.maintenance.intervalTrigger({ conditionId: "c", every: {} }),
  ),
  // optional peers, not installed in the first install
  esmOpcUa: await caught(() => esm.opcua.fromOpcUa(validOpcUa)),
  cjsOpcUa: await caught(() => cjs.opcua.fromOpcUa(validOpcUa)),
  esmSimulator: await caught(() => esm.simulator.startCompressorServer()),
  esmSparkplug: await caught(() => streamError(esm.sparkplug.fromSparkplug(validSparkplug))),
  cjsSparkplug: await caught(() => streamError(cjs.sparkplug.fromSparkplug(validSparkplug))),
  esmMqtt: await caught(() => streamError(esm.mqtt.fromMqtt(validMqtt))),
  cjsMqtt: await caught(() => streamError(cjs.mqtt.fromMqtt(validMqtt))),
  esmCactus: await caught(() =>
    esm.cactus.ledgerConnectorPlugin({ kind: "embedded" }, { instanceId: "l" }),
  ),
  esmConsensus: await caught(() => esm.cactus.evmConsensusFamily({ send: async () => "0x1" })),
  esmAnvil: await caught(() => esm.anvil.anvilBinary()),
};
const errors = Object.fromEntries(
  Object.entries(thrown).map(([k, err]) => [k, err === undefined ? null : identity(err)]),
);

// 3. the Sparkplug B codec generated from sparkplug_b.proto, as built into dist/ (loaded by path,
// not an export), in both formats: a UInt64 of 2^64-1 encoded and decoded exactly
async function codecRoundTrip(format) {
  const file = join(
    scope,
    "metering",
    "dist",
    format === "import" ? "sparkplugCodec.js" : "sparkplugCodec.cjs",
  );
  try {
    const codec = format === "import" ? await import(pathToFileURL(file).href) : require(file);
    const max = 2n ** 64n - 1n;
    const bytes = codec.encodeSparkplugPayload({
      seq: 7n,
      metrics: [
        { name: "Volume", alias: 1n, datatype: 8, value: { case: "longValue", value: max } },
      ],
    });
    const back = codec.decodeSparkplugPayload(bytes);
    const m = back.metrics[0];
    return {
      ok: true,
      seq: String(back.seq),
      name: m.name,
      value: String(m.value.value),
      exact: m.value.value === max,
    };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}
const codec = {
  import: await codecRoundTrip("import"),
  require: await codecRoundTrip("require"),
};

writeFileSync(
  process.argv[2],
  `${JSON.stringify({ packages, licenses, entries, errors, codec })}\n`,
);
