// Import cost of each public entry point, as users get it (the built dist): bundle size
// (esbuild, every export with its dependencies, minified, gzipped) and load time (a fresh
// node process importing it; median of several), against the libraries maaskit builds on.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { type Figure, figure, log, median } from "./lib/measure.js";

const here = path.dirname(fileURLToPath(import.meta.url));

interface Entry {
  /** Module specifiers imported together. */
  readonly specifiers: readonly string[];
  readonly label: string;
}

const RXJS_DECIMAL: Entry = { label: "rxjs + decimal.js", specifiers: ["rxjs", "decimal.js"] };
const ETHERS: Entry = { label: "ethers", specifiers: ["ethers"] };
const CORE_DEPS: Entry = {
  label: "rxjs + decimal.js + ethers",
  specifiers: ["rxjs", "decimal.js", "ethers"],
};
const OPCUA_CLIENT: Entry = { label: "node-opcua-client", specifiers: ["node-opcua-client"] };

/** Entry points and the baseline each is compared with. */
const ENTRIES: readonly { entry: Entry; baseline: Entry }[] = [
  { entry: { label: "@maaskit/metering", specifiers: ["@maaskit/metering"] }, baseline: CORE_DEPS },
  {
    entry: { label: "@maaskit/metering/opcua", specifiers: ["@maaskit/metering/opcua"] },
    baseline: OPCUA_CLIENT,
  },
  {
    entry: { label: "@maaskit/settlement", specifiers: ["@maaskit/settlement"] },
    baseline: CORE_DEPS,
  },
  {
    entry: { label: "@maaskit/settlement/evm", specifiers: ["@maaskit/settlement/evm"] },
    baseline: ETHERS,
  },
  {
    entry: { label: "@maaskit/maintenance", specifiers: ["@maaskit/maintenance"] },
    baseline: CORE_DEPS,
  },
];

/**
 * The bundle a consumer importing every export of the modules would ship: min + gzip bytes.
 * Imports no bundler can resolve (optional dynamic imports of packages that are not
 * installed, native add-ons) are left external and listed.
 */
async function bundleSize(
  e: Entry,
): Promise<{ minBytes: number; gzipBytes: number; external: string[] }> {
  const contents = e.specifiers
    .map((s, i) => `export * as m${i} from ${JSON.stringify(s)};`)
    .join("\n");
  const external = ["*.node"];
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await build({
        stdin: { contents, resolveDir: here, loader: "js" },
        bundle: true,
        minify: true,
        platform: "node",
        format: "esm",
        target: "node20",
        write: false,
        logLevel: "silent",
        external,
      });
      const code = result.outputFiles[0]!.contents;
      return {
        minBytes: code.byteLength,
        gzipBytes: gzipSync(code, { level: 9 }).byteLength,
        external: external.slice(1),
      };
    } catch (err) {
      const unresolved = ((err as { errors?: { text: string }[] }).errors ?? [])
        .map((x) => /^Could not resolve "(.+)"$/.exec(x.text)?.[1])
        .filter((x): x is string => x !== undefined && !external.includes(x));
      if (unresolved.length === 0 || attempt >= 10) throw err;
      external.push(...unresolved);
    }
  }
}

const MARK = "@@maaskit-bench@@";

/** One fresh process: milliseconds for `import()` of the modules, and RSS after it. */
function loadOnce(e: Entry): Promise<{ ms: number; rssMiB: number }> {
  const script = `const MARK=${JSON.stringify(MARK)};const t=performance.now();${e.specifiers.map((s) => `await import(${JSON.stringify(s)});`).join("")}const ms=performance.now()-t;globalThis.gc?.();process.stdout.write("\\n"+MARK+JSON.stringify({ms,rssMiB:process.memoryUsage().rss/1048576})+"\\n")`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--expose-gc", "--no-warnings", "--input-type=module", "-e", script],
      {
        cwd: here,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) => {
      // Libraries may log to stdout (node-opcua does): take the marked line only.
      const line = out.split("\n").find((l) => l.startsWith(MARK));
      if (code !== 0 || line === undefined) {
        reject(new Error(`import of ${e.label} failed (${code}): ${err.slice(-1000)}`));
      } else resolve(JSON.parse(line.slice(MARK.length)) as { ms: number; rssMiB: number });
    });
  });
}

/** Whether the entry resolves to a built file (e.g. `/evm` exists only once it is built). */
function resolvable(e: Entry): boolean {
  try {
    return e.specifiers.every((s) => {
      const url = import.meta.resolve(s);
      return !url.startsWith("file:") || fs.existsSync(fileURLToPath(url));
    });
  } catch {
    return false;
  }
}

export async function importCostBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const n = quick ? 3 : 7;
  const all = new Map<string, Entry>();
  for (const { entry, baseline } of ENTRIES) {
    all.set(entry.label, entry);
    all.set(baseline.label, baseline);
  }
  all.set(RXJS_DECIMAL.label, RXJS_DECIMAL);
  const sizes = new Map<
    string,
    { minBytes: number; gzipBytes: number; external: string[] } | { error: string }
  >();
  const loads = new Map<string, { ms: number[]; rssMiB: number[] } | { error: string }>();
  const present = [...all.values()].filter((e) => {
    if (resolvable(e)) return true;
    sizes.set(e.label, { error: "not built or not exported" });
    loads.set(e.label, { error: "not built or not exported" });
    return false;
  });

  log(`importCost: bundling ${present.length} entry points (esbuild, minified, gzip -9)`);
  for (const e of present) {
    try {
      sizes.set(e.label, await bundleSize(e));
    } catch (err) {
      sizes.set(e.label, {
        error: (err instanceof Error ? err.message : String(err)).split("\n")[0]!,
      });
    }
  }
  log(`importCost: load time, ${n} fresh processes per entry point (interleaved)`);
  for (const e of present) loads.set(e.label, { ms: [], rssMiB: [] });
  for (let i = 0; i < n; i++) {
    for (const e of present) {
      const l = loads.get(e.label)!;
      if ("error" in l) continue;
      try {
        const r = await loadOnce(e);
        l.ms.push(r.ms);
        l.rssMiB.push(r.rssMiB);
      } catch (err) {
        loads.set(e.label, {
          error: (err instanceof Error ? err.message : String(err)).split("\n")[0]!,
        });
      }
    }
  }

  const figures: Figure[] = [];
  for (const { entry, baseline } of ENTRIES) {
    const s = sizes.get(entry.label);
    const bs = sizes.get(baseline.label);
    if (s !== undefined && !("error" in s) && bs !== undefined && !("error" in bs)) {
      figures.push(
        figure({
          id: `importCost.size.${entry.label}`,
          group: "Import cost",
          name: `\`${entry.label}\` bundle, min+gz (all exports with dependencies)`,
          value: s.gzipBytes / 1024,
          unit: "KiB",
          baseline: { name: baseline.label, value: bs.gzipBytes / 1024, unit: "KiB" },
        }),
      );
    }
    const l = loads.get(entry.label);
    const bl = loads.get(baseline.label);
    if (l !== undefined && !("error" in l) && bl !== undefined && !("error" in bl)) {
      figures.push(
        figure({
          id: `importCost.load.${entry.label}`,
          group: "Import cost",
          name: `\`${entry.label}\` load time, fresh process (median of ${n})`,
          value: median(l.ms),
          unit: "ms",
          baseline: { name: baseline.label, value: median(bl.ms), unit: "ms" },
        }),
      );
    }
  }
  const details: Record<string, unknown> = {};
  for (const e of all.values()) {
    const s = sizes.get(e.label);
    const l = loads.get(e.label);
    details[e.label] = {
      size: s,
      load:
        l === undefined || "error" in l
          ? l
          : {
              medianMs: median(l.ms),
              runsMs: l.ms.map((x) => Math.round(x)),
              medianRssMiB: Math.round(median(l.rssMiB) * 10) / 10,
            },
    };
  }
  return { figures, details: { runs: n, entries: details } };
}
