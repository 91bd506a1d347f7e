import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { GatewayError } from "../errors.js";
import type { EvmKeySource, EvmKeys } from "../ledgers/evmLedger.js";
import { compressorProfile, type MachineProfile } from "../machineProfile.js";

const decimalString = z
  .string()
  .regex(/^\d+(\.\d+)?$/, 'must be a non-negative decimal string like "12.5"');
const rate = z.strictObject({ value: decimalString, per: z.enum(["s", "min", "h"]) });
const duration = z
  .string()
  .regex(/^\d+(ms|s|m|h|d)$/, "must be a duration like 500ms, 15m, 1h or 2d");

const channel = z.strictObject({
  kind: z.enum(["register", "rate", "state", "value"]),
  nodeId: z.string().min(1),
  unit: z
    .string()
    .regex(/^[A-Z0-9]{2,3}$/, "must be a UNECE Rec. 20 unit code like MTQ")
    .optional(),
  rollover: decimalString.optional(),
  capacity: rate.optional(),
  resetCounterChannel: z.string().min(1).optional(),
});

const maintenance = z.strictObject({
  filter: z
    .strictObject({
      channel: z.string().min(1),
      above: decimalString,
      clearAt: decimalString,
      minDurationMs: z.int().nonnegative(),
    })
    .optional(),
  service: z
    .strictObject({
      channel: z.string().min(1),
      runHours: decimalString,
      months: z.int().positive(),
    })
    .optional(),
});

const customProfile = z.strictObject({
  name: z.string().min(1),
  channels: z.record(z.string().min(1), channel),
  billed: z.string().min(1),
  state: z.string().min(1).optional(),
  stateNames: z.record(z.string(), z.string()).optional(),
  stateMapping: z.record(z.string(), z.enum(["APT", "AUST", "ADET", "ADOT", "PDOT"])).optional(),
  idealRate: rate.optional(),
  maintenance: maintenance.optional(),
});

const compressor = z.strictObject({
  base: z.literal("compressor"),
  /** NodeId prefix of the Compressor object (default `ns=1;s=Compressor`). */
  prefix: z.string().min(1).optional(),
  /** Nameplate free air delivery (default 12.5 m³/min). */
  fad: rate.optional(),
  rollover: decimalString.optional(),
  availability: z.enum(["airService", "production"]).optional(),
});

/** Topic segment of a Sparkplug id (group, edge node, device, host): no `/ + #`. */
const sparkplugId = z.string().regex(/^[^/+#]+$/, "must be a Sparkplug id without / + #");

/**
 * `source: { type: "sparkplug", … }`: the machine's readings from a Sparkplug B edge node on an
 * MQTT broker (`fromSparkplug`; needs the optional peers mqtt and @bufbuild/protobuf), each
 * profile channel mapped to a birth metric name. Default source: OPC UA at `endpoint`.
 */
const sparkplugSource = z.strictObject({
  type: z.literal("sparkplug"),
  brokerUrl: z
    .string()
    .regex(/^(mqtts?|wss?):\/\//, "must be an mqtt://, mqtts://, ws:// or wss:// URL"),
  groupId: sparkplugId,
  edgeNodeId: sparkplugId,
  deviceId: sparkplugId.optional(),
  hostId: sparkplugId,
  metrics: z.record(
    z.string().min(1),
    z.strictObject({
      name: z.string().min(1),
      deviceId: sparkplugId.optional(),
      scale: decimalString.optional(),
    }),
  ),
  reorderTimeoutMs: z.int().nonnegative().optional(),
  rebirthCooldownMs: z.int().nonnegative().optional(),
});

/** Where an EVM party's key comes from: a key file (`0x…`, mode 0600) or an env variable. */
const evmKeySource = z.union([
  z.strictObject({ keyFile: z.string().min(1) }),
  z.strictObject({
    env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an environment variable name"),
  }),
]);

/** The gateway configuration file (`gateway.json`). Paths are relative to the file. */
export const gatewayConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    machineId: z.string().min(1),
    /** OPC UA endpoint of the machine (not with a Sparkplug `source`). */
    endpoint: z.string().startsWith("opc.tcp://", "must be an opc.tcp:// URL").optional(),
    source: z.union([z.strictObject({ type: z.literal("opcua") }), sparkplugSource]).optional(),
    profile: z.union([compressor, customProfile]),
    agreement: z.string().min(1).describe("agreement JSON file"),
    signerKeyFile: z.string().min(1),
    dataDir: z.string().min(1).default("data"),
    outDir: z.string().min(1).default("out"),
    /**
     * Where records are settled: the local embedded ledger (default), a central PostgreSQL
     * ledger, a maaskit ledger service over HTTP (docs/ledger-service.md), the maaskit
     * contracts on an EVM chain (a local anvil, or `rpcUrl` with the parties' `keys`), or a
     * Hyperledger Cactus plugin registry.
     */
    ledger: z
      .discriminatedUnion("type", [
        z.strictObject({ type: z.literal("embedded"), dir: z.string().min(1).optional() }),
        z.strictObject({
          type: z.literal("postgres"),
          connectionString: z
            .string()
            .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL")
            .describe("PostgreSQL connection string of the central ledger database"),
        }),
        z.strictObject({
          type: z.literal("http"),
          url: z.url({ protocol: /^https?$/ }).describe("base URL of the maaskit ledger service"),
          tokenFile: z
            .string()
            .min(1)
            .describe("file holding this gateway's bearer token for the ledger service"),
        }),
        z.strictObject({
          type: z.literal("evm"),
          rpcUrl: z
            .url({ protocol: /^(https?|wss?)$/ })
            .optional()
            .describe("JSON-RPC URL of the node; omitted: a local anvil the gateway starts"),
          keys: z
            .strictObject({
              relayer: evmKeySource,
              customer: evmKeySource,
              provider: evmKeySource,
              arbiter: evmKeySource,
            })
            .optional()
            .describe("the parties' keys; required with rpcUrl"),
        }),
        z.strictObject({ type: z.literal("cactus"), dir: z.string().min(1).optional() }),
      ])
      .default({ type: "embedded" }),
    window: z
      .strictObject({
        size: duration.default("15m"),
        timeZone: z.string().min(1).optional(),
        allowedLatenessMs: z.int().nonnegative().default(5000),
      })
      .default({ size: "15m", allowedLatenessMs: 5000 }),
    /** Where billing starts on the register; see the README. */
    baseline: z
      .union([
        z.literal("observed"),
        z.strictObject({ register: decimalString, at: z.iso.datetime() }),
      ])
      .default("observed"),
    unobservedTime: z.enum(["notMachineFault", "machineDownTime"]).default("notMachineFault"),
    opcua: z
      .strictObject({
        /**
         * `fromOpcUa`'s `security` options, passed through (default: the strongest mode and
         * policy the server offers, server certificate checked against `<dataDir>/pki`).
         */
        security: z
          .strictObject({
            mode: z.enum(["auto", "SignAndEncrypt", "Sign", "None"]).optional(),
            policy: z
              .enum([
                "auto",
                "Aes256_Sha256_RsaPss",
                "Basic256Sha256",
                "Aes128_Sha256_RsaOaep",
                "Basic256",
                "Basic128Rsa15",
              ])
              .optional(),
            trust: z.enum(["list", "firstUse"]).optional(),
            user: z.record(z.string(), z.unknown()).optional(),
          })
          .optional(),
        sessionTimeoutMs: z.int().positive().optional(),
        samplingIntervalMs: z.int().nonnegative().default(20),
        publishingIntervalMs: z.int().positive().default(50),
        /** Connect retries: backoff between attempts, forever. */
        reconnect: z
          .strictObject({
            initialDelayMs: z.int().positive().default(500),
            maxDelayMs: z.int().positive().default(30_000),
          })
          .default({ initialDelayMs: 500, maxDelayMs: 30_000 }),
      })
      .default({
        samplingIntervalMs: 20,
        publishingIntervalMs: 50,
        reconnect: { initialDelayMs: 500, maxDelayMs: 30_000 },
      }),
  })
  .superRefine((c, ctx) => {
    if (c.source?.type !== "sparkplug" && c.endpoint === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["endpoint"],
        message: "the OPC UA endpoint is required",
      });
    if (c.ledger.type === "evm" && c.ledger.rpcUrl !== undefined && c.ledger.keys === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["ledger", "keys"],
        message:
          "with ledger.rpcUrl the parties' keys must come from the config (key files or env variables): a node the gateway did not start never gets anvil's public dev keys",
      });
    if (c.window.timeZone !== undefined) {
      try {
        new Intl.DateTimeFormat("en", { timeZone: c.window.timeZone });
      } catch {
        ctx.addIssue({
          code: "custom",
          path: ["window", "timeZone"],
          message: `unknown IANA time zone ${JSON.stringify(c.window.timeZone)}`,
        });
      }
    }
    if ("channels" in c.profile) {
      const p = c.profile;
      const billed = p.channels[p.billed];
      if (!billed || billed.kind !== "register")
        ctx.addIssue({
          code: "custom",
          path: ["profile", "billed"],
          message: "must name a channel of kind register",
        });
      if (p.state !== undefined && p.channels[p.state]?.kind !== "state")
        ctx.addIssue({
          code: "custom",
          path: ["profile", "state"],
          message: "must name a channel of kind state",
        });
      for (const [name, ch] of Object.entries(p.channels)) {
        if ((ch.kind === "register" || ch.kind === "rate") && ch.unit === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["profile", "channels", name, "unit"],
            message: "a register or rate needs its UNECE unit code",
          });
      }
      for (const [key, t] of Object.entries(p.maintenance ?? {})) {
        if (t && p.channels[t.channel] === undefined)
          ctx.addIssue({
            code: "custom",
            path: ["profile", "maintenance", key, "channel"],
            message: `no channel ${JSON.stringify(t.channel)} in profile.channels`,
          });
      }
    }
  });

export type GatewayConfigJson = z.input<typeof gatewayConfigSchema>;

/** A validated configuration: paths absolute, the profile resolved. */
export interface GatewayConfig {
  readonly file?: string;
  readonly machineId: string;
  readonly endpoint: string;
  readonly profile: MachineProfile;
  readonly agreementFile: string;
  readonly signerKeyFile: string;
  readonly dataDir: string;
  readonly outDir: string;
  readonly ledger:
    | { readonly type: "embedded"; readonly dir: string }
    | { readonly type: "postgres"; readonly connectionString: string }
    | { readonly type: "http"; readonly url: string; readonly tokenFile: string }
    | {
        readonly type: "evm";
        readonly rpcUrl?: string;
        readonly keys?: EvmKeys;
        /** `<dataDir>/evm-contracts.json`: the contracts a restarted gateway reuses. */
        readonly stateFile: string;
      }
    | { readonly type: "cactus"; readonly dir: string };
  readonly window: {
    readonly sizeMs: number;
    readonly timeZone?: string;
    readonly allowedLatenessMs: number;
  };
  readonly baseline: "observed" | { readonly register: string; readonly at: Date };
  readonly unobservedTime: "notMachineFault" | "machineDownTime";
  readonly opcua: z.output<typeof gatewayConfigSchema>["opcua"];
  /** Where readings come from: OPC UA at `endpoint` (default) or a Sparkplug B edge node. */
  readonly source: { readonly type: "opcua" } | z.output<typeof sparkplugSource>;
}

/** One problem in a config file: where (dotted path) and what. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `15m`, `2d` → milliseconds (undefined when malformed). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/**
 * Validates a configuration object and reports every problem at once
 * (`gateway.config.invalid`, `details.problems`). Relative paths resolve against `baseDir`.
 */
export function parseGatewayConfig(raw: unknown, baseDir: string): GatewayConfig {
  const parsed = gatewayConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: ConfigProblem[] = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join("."),
      message: i.message,
    }));
    throw new GatewayError(
      "gateway.config.invalid",
      `Gateway configuration has ${problems.length} problem(s): ${problems
        .map((p) => `${p.path || "(root)"}: ${p.message}`)
        .join("; ")}`,
      { problems },
    );
  }
  const c = parsed.data;
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataDir = abs(c.dataDir);
  const profile: MachineProfile =
    "base" in c.profile
      ? compressorProfile({
          ...(c.profile.prefix ? { prefix: c.profile.prefix } : {}),
          ...(c.profile.fad ? { fad: c.profile.fad } : {}),
          ...(c.profile.rollover ? { rollover: c.profile.rollover } : {}),
          ...(c.profile.availability ? { availability: c.profile.availability } : {}),
        })
      : (c.profile as MachineProfile);
  const unknown = Object.keys(c.source?.type === "sparkplug" ? c.source.metrics : {}).filter(
    (name) => profile.channels[name] === undefined,
  );
  if (unknown.length > 0) {
    const problems: ConfigProblem[] = unknown.map((name) => ({
      path: `source.metrics.${name}`,
      message: `no channel ${JSON.stringify(name)} in the profile`,
    }));
    throw new GatewayError(
      "gateway.config.invalid",
      `Gateway configuration has ${problems.length} problem(s): ${problems
        .map((p) => `${p.path}: ${p.message}`)
        .join("; ")}`,
      { problems },
    );
  }
  return {
    machineId: c.machineId,
    // with a Sparkplug source the broker is the machine's endpoint
    endpoint: c.source?.type === "sparkplug" ? c.source.brokerUrl : c.endpoint!,
    profile,
    agreementFile: abs(c.agreement),
    signerKeyFile: abs(c.signerKeyFile),
    dataDir,
    outDir: abs(c.outDir),
    ledger: ledgerOf(c.ledger, abs, dataDir),
    window: {
      sizeMs: parseDuration(c.window.size)!,
      ...(c.window.timeZone ? { timeZone: c.window.timeZone } : {}),
      allowedLatenessMs: c.window.allowedLatenessMs,
    },
    baseline:
      c.baseline === "observed"
        ? "observed"
        : { register: c.baseline.register, at: new Date(c.baseline.at) },
    unobservedTime: c.unobservedTime,
    opcua: c.opcua,
    source: c.source ?? { type: "opcua" },
  };
}

function ledgerOf(
  l: z.output<typeof gatewayConfigSchema>["ledger"],
  abs: (p: string) => string,
  dataDir: string,
): GatewayConfig["ledger"] {
  const keyOf = (k: z.output<typeof evmKeySource>): EvmKeySource =>
    "keyFile" in k ? { keyFile: abs(k.keyFile) } : k;
  switch (l.type) {
    case "embedded":
      return { type: "embedded", dir: l.dir ? abs(l.dir) : resolve(dataDir, "ledger") };
    case "cactus":
      return { type: "cactus", dir: l.dir ? abs(l.dir) : resolve(dataDir, "cactus-ledger") };
    case "http":
      return { type: "http", url: l.url, tokenFile: abs(l.tokenFile) };
    case "evm":
      return {
        type: "evm",
        ...(l.rpcUrl ? { rpcUrl: l.rpcUrl } : {}),
        ...(l.keys
          ? {
              keys: {
                relayer: keyOf(l.keys.relayer),
                customer: keyOf(l.keys.customer),
                provider: keyOf(l.keys.provider),
                arbiter: keyOf(l.keys.arbiter),
              },
            }
          : {}),
        stateFile: resolve(dataDir, "evm-contracts.json"),
      };
    default:
      return l;
  }
}

/** Reads and validates a gateway config file (JSON). Paths in it are relative to the file. */
export function loadGatewayConfig(file: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new GatewayError(
      "gateway.config.unreadable",
      `Cannot read config file ${file}`,
      { file },
      cause,
    );
  }
  return { ...parseGatewayConfig(raw, dirname(resolve(file))), file: resolve(file) };
}

/** The JSON Schema of `gateway.json` (what `gateway.schema.json` holds). */
export function gatewayConfigJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(gatewayConfigSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
}
