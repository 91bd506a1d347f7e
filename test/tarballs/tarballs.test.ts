import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

// What a stranger gets: every packages/* directory packed with `pnpm pack` (as `pnpm publish`
// would), installed with npm into an empty project, then loaded from there by probe.mjs in ESM
// and CJS. Needs the packages built (`pnpm test` builds first).

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const probeFile = fileURLToPath(new URL("probe.mjs", import.meta.url));

interface EntryResult {
  specifier: string;
  format: "import" | "require";
  ok: boolean;
  exports?: number;
  optionalPeers?: string[];
  error?: { code?: string; message: string };
}
interface ErrorIdentity {
  name: string;
  code: string;
  message: string;
  package?: string;
  esmInstanceof: boolean;
  cjsInstanceof: boolean;
  esmIs: boolean;
  cjsIs: boolean;
}
interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
interface ProbeReport {
  packages: string[];
  licenses: Record<string, { declared: string; file: boolean; changelog: boolean }>;
  entries: EntryResult[];
  errors: Record<string, ErrorIdentity | null>;
  codec: Record<"import" | "require", CodecProbe>;
}
interface CodecProbe {
  ok: boolean;
  seq?: string;
  name?: string;
  value?: string;
  exact?: boolean;
  error?: { code?: string; message: string; package?: string };
}

let dir: string;
let app: string;
let packageDirs: string[];
/** Probed without any optional peer installed. */
let first: ProbeReport;
/** Probed with every tarball installed. */
let full: ProbeReport;
const timings: Record<string, number> = {};

/**
 * The environment of a stranger's shell: without the npm_config_* variables pnpm sets for the
 * scripts it runs, without NODE_PATH (pnpm's bin shims point it at the workspace's
 * node_modules/.pnpm, where every optional peer is installed) and without vitest's variables.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(npm_|pnpm_|vitest|node_path$|node_options$|node_env$)/i.test(k),
    ),
  ) as NodeJS.ProcessEnv;
}

async function npm(...args: string[]): Promise<void> {
  await run("npm", [...args, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: app,
    env: cleanEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
}

async function probe(): Promise<ProbeReport> {
  const report = join(app, "report.json");
  await rm(report, { force: true });
  await run(process.execPath, ["probe.mjs", report], {
    cwd: app,
    env: cleanEnv(),
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(await readFile(report, "utf8")) as ProbeReport;
}

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - start);
  }
}

beforeAll(async () => {
  const all = (await readdir(join(repo, "packages"))).sort();
  packageDirs = all.filter((d) => existsSync(join(repo, "packages", d, "package.json")));
  for (const d of packageDirs) {
    if (!existsSync(join(repo, "packages", d, "dist"))) {
      throw new Error(`packages/${d}/dist is missing: run \`pnpm build\` first`);
    }
  }
  dir = await mkdtemp(join(tmpdir(), "maaskit-tarballs-"));
  const tarballs = join(dir, "tarballs");
  app = join(dir, "app");
  await mkdir(tarballs);
  await mkdir(app);
  await timed("pack", () =>
    Promise.all(
      packageDirs.map((d) =>
        run("pnpm", ["pack", "--pack-destination", tarballs], {
          cwd: join(repo, "packages", d),
          env: cleanEnv(),
        }),
      ),
    ),
  );
  await writeFile(
    join(app, "package.json"),
    `${JSON.stringify({ name: "maaskit-smoke-app", version: "1.0.0", private: true }, null, 2)}\n`,
  );
  await copyFile(probeFile, join(app, "probe.mjs"));
  const manifests = new Map<string, Manifest>();
  for (const d of packageDirs) {
    manifests.set(
      d,
      JSON.parse(await readFile(join(repo, "packages", d, "package.json"), "utf8")) as Manifest,
    );
  }
  const tarballOf = async (d: string): Promise<string> => {
    const { name, version } = manifests.get(d)!;
    const file = `${name.replace(/^@/, "").replace("/", "-")}-${version}.tgz`;
    if (!(await readdir(tarballs)).includes(file)) throw new Error(`no ${file} packed`);
    return join(tarballs, file);
  };
  // A package that depends on another's optional peer (@maaskit/gateway reads OPC UA, so
  // node-opcua-client is its dependency) would install that peer: it comes second, so the
  // others are probed first without any optional peer.
  const optionalPeers = new Set(
    [...manifests.values()].flatMap((m) =>
      Object.entries(m.peerDependenciesMeta ?? {})
        .filter(([, meta]) => meta.optional === true)
        .map(([peer]) => peer),
    ),
  );
  const later = packageDirs.filter((d) =>
    Object.keys(manifests.get(d)!.dependencies ?? {}).some((dep) => optionalPeers.has(dep)),
  );
  const sooner = packageDirs.filter((d) => !later.includes(d));
  // Only the tarballs: npm adds their required peers (rxjs, decimal.js, ethers) by itself and
  // leaves the optional ones (node-opcua-client, node-opcua, Cactus, anvil, vitest) out.
  await timed("npm install (tarballs only)", async () =>
    npm("install", ...(await Promise.all(sooner.map(tarballOf)))),
  );
  first = await timed("probe", probe);
  full = first;
  if (later.length > 0) {
    await timed("npm install (tarballs depending on an optional peer)", async () =>
      npm("install", ...(await Promise.all(later.map(tarballOf)))),
    );
    full = await timed("probe (every tarball)", probe);
  }
}, 600_000);

afterAll(async () => {
  console.info(`tarball smoke test timings (ms): ${JSON.stringify(timings)}`);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("packed tarballs installed with npm", () => {
  test("default: every packages/* directory is packed and installed", () => {
    expect(full.packages.map((p) => `packages/${p}`).sort()).toEqual(
      packageDirs.map((d) => `packages/${d}`).sort(),
    );
    expect(full.entries.length).toBeGreaterThan(0);
  });

  test("default: every tarball carries the Apache-2.0 LICENSE text and a CHANGELOG", () => {
    for (const [name, l] of Object.entries(full.licenses)) {
      expect(l, name).toEqual({ declared: "Apache-2.0", file: true, changelog: true });
    }
  });

  test("behavior: every entry loads in ESM and CJS, or fails only for want of a declared optional peer", () => {
    for (const report of [first, full]) {
      for (const e of report.entries) {
        if (e.ok) {
          expect(e.exports, `${e.specifier} (${e.format}) exports nothing`).toBeGreaterThan(0);
          continue;
        }
        // the only acceptable failure: a module that is a declared optional peer is not installed
        const missing = /Cannot find (?:module|package) '([^']+)'/.exec(
          e.error?.message ?? "",
        )?.[1];
        expect(
          missing !== undefined &&
            e.optionalPeers!.some((p) => missing === p || missing.startsWith(`${p}/`)),
          `${e.specifier} (${e.format}): ${e.error?.code} ${e.error?.message}`,
        ).toBe(true);
      }
      // without any optional peer, only the vitest-based conformance suite may fail to load
      expect(report.entries.filter((e) => !e.ok).map((e) => e.specifier)).toEqual(
        report.entries
          .filter((e) => e.specifier === "@maaskit/settlement/conformance" && !e.ok)
          .map((e) => e.specifier),
      );
    }
  });

  test("behavior: an error thrown by any entry, ESM or CJS, is a MaaskitError to every copy", () => {
    const expected: Record<string, string> = {
      esmQuantity: "metering.quantity.invalid",
      cjsQuantity: "metering.quantity.invalid",
      esmSettlement: "settlement.agreement.invalid",
      cjsSettlement: "settlement.agreement.invalid",
      esmMaintenance: "maintenance.trigger.invalidOptions",
      cjsMaintenance: "maintenance.trigger.invalidOptions",
    };
    for (const [name, code] of Object.entries(expected)) {
      const e = first.errors[name];
      expect(e, name).toMatchObject({
        code,
        esmInstanceof: true,
        cjsInstanceof: true,
        esmIs: true,
        cjsIs: true,
      });
    }
  });

  test("error: an entry whose optional peer is missing fails with maaskit.dependency.missing naming it", () => {
    const expected: Record<string, string> = {
      esmOpcUa: "node-opcua-client",
      cjsOpcUa: "node-opcua-client",
      esmSimulator: "node-opcua",
      esmSparkplug: "mqtt",
      cjsSparkplug: "mqtt",
      esmMqtt: "mqtt",
      cjsMqtt: "mqtt",
      esmCactus: "@hyperledger/cactus-core-api",
      esmConsensus: "@hyperledger/cactus-core-api",
      esmAnvil: "@foundry-rs/anvil",
    };
    for (const [name, pkg] of Object.entries(expected)) {
      const e = first.errors[name];
      expect(e, name).toMatchObject({
        code: "maaskit.dependency.missing",
        package: pkg,
        esmInstanceof: true,
        cjsInstanceof: true,
      });
      expect(e!.message).toContain(
        `npm install ${name === "esmAnvil" ? "@foundry-rs/anvil" : pkg}`,
      );
    }
  });

  test("default: the installed `maaskit verify` bin checks a signed export (valid: 0, tampered: 1)", async () => {
    const { vectors } = JSON.parse(
      await readFile(join(repo, "docs/meter-record.vectors.json"), "utf8"),
    ) as { vectors: { valid: boolean; record?: Record<string, unknown>; signer: string }[] };
    const records = vectors.filter(
      (v) => v.valid && v.record !== undefined && v.record.agreementId === "agr-compressor-7",
    );
    expect(records.length).toBe(2);
    const good = join(app, "records.jsonl");
    await writeFile(good, `${records.map((v) => JSON.stringify(v.record)).join("\n")}\n`);
    const bin = join(app, "node_modules", ".bin", "maaskit");
    const ok = await run(bin, ["verify", good, "--signer", records[0]!.signer], {
      cwd: app,
      env: cleanEnv(),
    });
    expect(ok.stdout).toContain("2 lines, 2 valid, 0 invalid");

    const tampered = records.map((v) => ({ ...v.record }));
    tampered[1]!.quarantined = (tampered[1]!.quarantined as number) + 1;
    const bad = join(app, "tampered.jsonl");
    await writeFile(bad, `${tampered.map((r) => JSON.stringify(r)).join("\n")}\n`);
    const failed = await run(bin, ["verify", bad, "--signer", records[0]!.signer], {
      cwd: app,
      env: cleanEnv(),
    }).then(
      () => undefined,
      (err: { code: number; stdout: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toContain("metering.record.badSignature");
  });

  test("behavior: with the optional peers installed, every entry loads and fromOpcUa finds node-opcua-client", async () => {
    const metering = JSON.parse(
      await readFile(join(repo, "packages/metering/package.json"), "utf8"),
    ) as { devDependencies: Record<string, string> };
    const root = JSON.parse(await readFile(join(repo, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    await timed("npm install (optional peers)", () =>
      npm(
        "install",
        `node-opcua-client@${metering.devDependencies["node-opcua-client"]}`,
        `vitest@${root.devDependencies.vitest}`,
      ),
    );
    const second = await probe();
    expect(second.entries.filter((e) => !e.ok)).toEqual([]);
    // fromOpcUa now builds its Observable (nothing to throw until subscribed)
    expect(second.errors.esmOpcUa).toBeNull();
    expect(second.errors.cjsOpcUa).toBeNull();
    // the others are still missing and still say so
    expect(second.errors.esmAnvil?.code).toBe("maaskit.dependency.missing");
  }, 600_000);

  test("behavior: /sparkplug and /mqtt (ESM and CJS) need mqtt and @bufbuild/protobuf; with them the codec loads from the built dist and is exact", async () => {
    // without the peers the codec cannot load: it says which package is missing
    for (const format of ["import", "require"] as const) {
      expect(first.codec[format], format).toMatchObject({ ok: false });
      expect(first.codec[format].error?.message, format).toContain("@bufbuild/protobuf");
    }
    const metering = JSON.parse(
      await readFile(join(repo, "packages/metering/package.json"), "utf8"),
    ) as { devDependencies: Record<string, string> };
    await timed("npm install (mqtt, @bufbuild/protobuf)", () =>
      npm(
        "install",
        `mqtt@${metering.devDependencies.mqtt}`,
        `@bufbuild/protobuf@${metering.devDependencies["@bufbuild/protobuf"]}`,
      ),
    );
    const third = await probe();
    expect(
      third.entries.filter((e) => e.specifier.startsWith("@maaskit/metering/") && !e.ok),
    ).toEqual([]);
    for (const format of ["import", "require"] as const) {
      expect(third.codec[format], format).toEqual({
        ok: true,
        seq: "7",
        name: "Volume",
        value: "18446744073709551615",
        exact: true,
      });
    }
    // subscribing loaded the codec through the entry (ESM and CJS builds), then the connect
    // to a port nobody listens on failed as it must: the stream's typed error, not a load error
    for (const name of ["esmSparkplug", "cjsSparkplug"]) {
      expect(third.errors[name], name).toMatchObject({
        code: "metering.sparkplug.connectionFailed",
        esmInstanceof: true,
        cjsInstanceof: true,
      });
    }
    for (const name of ["esmMqtt", "cjsMqtt"]) {
      expect(third.errors[name], name).toMatchObject({
        code: "metering.mqtt.connectionFailed",
        esmInstanceof: true,
        cjsInstanceof: true,
      });
    }
  }, 600_000);
});
