import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parseDuration } from "@maaskit/gateway";
import { MaaskitError } from "@maaskit/metering";

/** How one OPC UA node maps onto a metering channel. */
export interface NodeMapping {
  readonly nodeId: string;
  /** register: a cumulative totalizer; rate: a flow to integrate; state: operating state; value: anything else. */
  readonly kind: "register" | "rate" | "state" | "value";
  readonly unit?: string;
  readonly basis?: string;
  /** Modulus at which a register wraps to zero (decimal string). */
  readonly rollover?: string;
}

/**
 * Where an EVM party's private key comes from: a key file (one `0x…` hex key, mode 0600),
 * or an environment variable holding it. Never a public mnemonic.
 */
export type EvmKeySource = { readonly keyFile: string } | { readonly env: string };

/** The keys the gateway acts with on a real node (`ledger.rpcUrl`). */
export interface EvmKeys {
  /** Deploys the contracts and relays records and statements. */
  readonly relayer: EvmKeySource;
  readonly customer: EvmKeySource;
  readonly provider: EvmKeySource;
  readonly arbiter: EvmKeySource;
}

export type LedgerChoice =
  | { readonly type: "embedded"; readonly dir: string }
  | { readonly type: "evm"; readonly rpcUrl?: string; readonly keys?: EvmKeys }
  | { readonly type: "cactus" };

/** The gateway's configuration, validated: paths are absolute. */
export interface GatewayConfig {
  readonly machineId: string;
  /** OPC UA endpoint; absent means: start the built-in compressor simulator. */
  readonly endpoint?: string;
  readonly nodes: Readonly<Record<string, NodeMapping>>;
  /** Nameplate output (the OEE performance reference), e.g. `{ value: "7.5", per: "min" }` m³/min. */
  readonly idealRate?: { readonly value: string; readonly per: "s" | "min" | "h" };
  readonly window: {
    readonly size: string;
    readonly timeZone: string;
    readonly allowedLatenessMs: number;
  };
  readonly agreementFile: string;
  readonly signerKeyFile: string;
  readonly ledger: LedgerChoice;
  readonly dataDir: string;
  readonly outDir: string;
  readonly dashboard: { readonly enabled: boolean; readonly port: number };
}

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

// `15m`, `1h`, `30d` → milliseconds: the gateway package's parser, as gateway.json uses it.
export { parseDuration };

/**
 * Validates a gateway configuration object and reports every problem at once
 * (`example.config.invalid`, `details.problems`). Relative paths resolve against `baseDir`.
 */
export function parseGatewayConfig(raw: unknown, baseDir: string): GatewayConfig {
  const problems: ConfigProblem[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  if (!isRecord(raw)) problem("", "must be a JSON object");
  const obj: Record<string, unknown> = isRecord(raw) ? raw : {};
  const str = (path: string, v: unknown, required = true): string | undefined => {
    if (v === undefined && !required) return undefined;
    if (typeof v !== "string" || v.length === 0) {
      problem(path, "must be a non-empty string");
      return undefined;
    }
    return v;
  };
  const abs = (p: string | undefined) =>
    p === undefined ? "" : isAbsolute(p) ? p : resolve(baseDir, p);

  const machineId = str("machineId", obj.machineId) ?? "";
  const endpoint = str("endpoint", obj.endpoint, false);
  if (endpoint !== undefined && !endpoint.startsWith("opc.tcp://")) {
    problem("endpoint", "must be an opc.tcp:// URL");
  }

  const nodes: Record<string, NodeMapping> = {};
  if (!isRecord(obj.nodes)) problem("nodes", "must map channel names to node mappings");
  else {
    for (const [channel, m] of Object.entries(obj.nodes)) {
      const at = `nodes.${channel}`;
      if (!isRecord(m)) {
        problem(at, "must be an object");
        continue;
      }
      const nodeId = str(`${at}.nodeId`, m.nodeId);
      const kind = m.kind;
      if (kind !== "register" && kind !== "rate" && kind !== "state" && kind !== "value") {
        problem(`${at}.kind`, 'must be one of "register", "rate", "state", "value"');
      }
      if ((kind === "register" || kind === "rate") && typeof m.unit !== "string") {
        problem(`${at}.unit`, "a register or rate needs its UNECE unit code");
      }
      if (
        m.rollover !== undefined &&
        !(typeof m.rollover === "string" && /^\d+$/.test(m.rollover))
      ) {
        problem(`${at}.rollover`, "must be a positive integer as a decimal string");
      }
      if (nodeId !== undefined) nodes[channel] = { ...(m as object), nodeId } as NodeMapping;
    }
    if (!Object.values(obj.nodes).some((m) => isRecord(m) && m.kind === "register")) {
      problem("nodes", "needs at least one register (the billed volume)");
    }
  }

  const win = isRecord(obj.window) ? obj.window : {};
  const size = str("window.size", win.size ?? "15m") ?? "15m";
  if (parseDuration(size) === undefined && !/^1(day|month)$/.test(size)) {
    problem("window.size", "must be a duration like 15m or 1h, or 1day / 1month");
  }
  const timeZone = str("window.timeZone", win.timeZone ?? "UTC") ?? "UTC";
  const allowedLatenessMs = win.allowedLatenessMs ?? 5000;
  if (!Number.isSafeInteger(allowedLatenessMs) || (allowedLatenessMs as number) < 0) {
    problem("window.allowedLatenessMs", "must be a non-negative integer (ms of source time)");
  }
  try {
    new Intl.DateTimeFormat("en", { timeZone });
  } catch {
    problem("window.timeZone", `unknown IANA time zone ${JSON.stringify(timeZone)}`);
  }

  const agreementFile = abs(str("agreement", obj.agreement));
  const signerKeyFile = abs(str("signerKeyFile", obj.signerKeyFile));
  const dataDir = abs(str("dataDir", obj.dataDir ?? ".maaskit"));
  const outDir = abs(str("outDir", obj.outDir ?? "out"));

  let ledger: LedgerChoice = { type: "embedded", dir: resolve(dataDir, "ledger") };
  if (obj.ledger !== undefined) {
    const l = isRecord(obj.ledger) ? obj.ledger : {};
    if (l.type === "embedded") {
      ledger = {
        type: "embedded",
        dir: abs(str("ledger.dir", l.dir ?? resolve(dataDir, "ledger"))),
      };
    } else if (l.type === "evm") {
      const rpcUrl = str("ledger.rpcUrl", l.rpcUrl, false);
      let keys: EvmKeys | undefined;
      if (l.keys !== undefined) {
        const k = isRecord(l.keys) ? l.keys : {};
        const source = (role: string): EvmKeySource => {
          const v = isRecord(k[role]) ? (k[role] as Record<string, unknown>) : {};
          if (typeof v.keyFile === "string") return { keyFile: abs(v.keyFile) };
          if (typeof v.env === "string" && /^[A-Z_][A-Z0-9_]*$/.test(v.env)) return { env: v.env };
          problem(`ledger.keys.${role}`, 'must be { "keyFile": "…" } or { "env": "VARIABLE" }');
          return { env: "" };
        };
        keys = {
          relayer: source("relayer"),
          customer: source("customer"),
          provider: source("provider"),
          arbiter: source("arbiter"),
        };
      }
      if (rpcUrl !== undefined && keys === undefined) {
        problem(
          "ledger.keys",
          "with ledger.rpcUrl the parties' keys must come from the config (key files or env variables): a real node never gets anvil's public dev keys",
        );
      }
      ledger =
        rpcUrl === undefined
          ? { type: "evm" }
          : { type: "evm", rpcUrl, ...(keys === undefined ? {} : { keys }) };
    } else if (l.type === "cactus") ledger = { type: "cactus" };
    else problem("ledger.type", 'must be "embedded", "evm" or "cactus"');
  }

  let idealRate: GatewayConfig["idealRate"];
  if (obj.idealRate !== undefined) {
    const r = isRecord(obj.idealRate) ? obj.idealRate : {};
    if (
      typeof r.value !== "string" ||
      !/^\d+(\.\d+)?$/.test(r.value) ||
      !(r.per === "s" || r.per === "min" || r.per === "h")
    ) {
      problem("idealRate", 'must be { "value": "<decimal>", "per": "s" | "min" | "h" }');
    } else idealRate = { value: r.value, per: r.per };
  }

  const dash = isRecord(obj.dashboard) ? obj.dashboard : {};
  const port = dash.port ?? 0;
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535) {
    problem("dashboard.port", "must be an integer port (0 = any free port)");
  }

  if (problems.length > 0) {
    throw new MaaskitError(
      "example.config.invalid",
      `Gateway configuration has ${problems.length} problem(s): ${problems
        .map((p) => `${p.path || "(root)"}: ${p.message}`)
        .join("; ")}`,
      { details: { problems } },
    );
  }
  return {
    machineId,
    ...(endpoint === undefined ? {} : { endpoint }),
    nodes,
    ...(idealRate ? { idealRate } : {}),
    window: { size, timeZone, allowedLatenessMs: allowedLatenessMs as number },
    agreementFile,
    signerKeyFile,
    ledger,
    dataDir,
    outDir,
    dashboard: { enabled: dash.enabled !== false, port: port as number },
  };
}

/** Reads and validates a gateway config file (JSON). Paths in it are relative to the file. */
export function loadGatewayConfig(file: string): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new MaaskitError("example.config.unreadable", `Cannot read config file ${file}`, {
      details: { file },
      cause,
    });
  }
  return parseGatewayConfig(raw, dirname(resolve(file)));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
