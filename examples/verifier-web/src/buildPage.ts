import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const NODE_BUILTINS = new Set(builtinModules);

/**
 * The page imports the packages' public entries, which also hold node-only parts (the
 * journal, the CLI's file access) that the page never calls. Those modules are tree-shaken
 * away; their `node:*` imports resolve to an empty module that throws if anything of it is
 * ever used, so a page that needed the file system would fail loudly, not silently.
 */
const nodeBuiltinsAbsent: Plugin = {
  name: "node-builtins-absent",
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      const bare = args.path.replace(/^node:/, "").split("/")[0]!;
      if (!args.path.startsWith("node:") && !NODE_BUILTINS.has(bare)) return undefined;
      if (!NODE_BUILTINS.has(bare)) return undefined;
      return { path: args.path, namespace: "node-absent" };
    });
    b.onLoad({ filter: /.*/, namespace: "node-absent" }, (args) => ({
      contents: `const absent = new Proxy({}, { get(_, key) { if (key === "__esModule") return false; throw new Error(${JSON.stringify(`${args.path} is not available in the browser verifier`)}); } });
module.exports = absent;`,
      loader: "js",
    }));
  },
};

/**
 * tiny-secp256k1's browser loader imports its WASM as an ES module, which browsers do not
 * do yet; this plugin replaces the loader with one that instantiates the inlined bytes
 * (asynchronously: Chromium refuses to compile a module over 4 KiB synchronously on the
 * page's thread, so the bundle is an ES module with a top-level await).
 */
const secp256k1Wasm: Plugin = {
  name: "secp256k1-wasm",
  setup(b) {
    b.onResolve({ filter: /wasm_loader(\.browser)?\.js$/ }, (args) =>
      args.importer.includes("tiny-secp256k1")
        ? { path: resolve(args.resolveDir, "wasm_loader.js"), namespace: "secp256k1-wasm" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "secp256k1-wasm" }, (args) => {
      const dir = dirname(args.path);
      return {
        contents: `import bytes from ${JSON.stringify(resolve(dir, "secp256k1.wasm"))};
import * as rand from ${JSON.stringify(resolve(dir, "rand.browser.js"))};
import * as validate_error from ${JSON.stringify(resolve(dir, "validate_error.js"))};
const { instance } = await WebAssembly.instantiate(bytes, { "./rand.js": rand, "./validate_error.js": validate_error });
export default instance.exports;`,
        loader: "js",
        resolveDir: dir,
      };
    });
    b.onLoad({ filter: /\.wasm$/ }, (args) => ({
      contents: readFileSync(args.path),
      loader: "binary",
    }));
  },
};

/**
 * Builds the verifier into ONE self-contained HTML file: the script (maaskit's metering and
 * settlement code, decimal.js, ethers' hashing, libsecp256k1 as WASM, uPlot) and the styles
 * inlined; no request leaves the page.
 */
export async function buildVerifierPage(
  outFile = resolve(here, "../dist/verifier.html"),
): Promise<{ path: string; bytes: number }> {
  const result = await build({
    entryPoints: [resolve(here, "page.ts")],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    legalComments: "inline",
    conditions: ["source", "browser"],
    plugins: [nodeBuiltinsAbsent, secp256k1Wasm],
    loader: { ".css": "text" },
    logLevel: "silent",
  });
  const script = result.outputFiles[0]!.text;
  const template = readFileSync(resolve(here, "page.html"), "utf8");
  const css = readFileSync(require_resolve("uplot/dist/uPlot.min.css"), "utf8");
  const html = template
    .replace("/*UPLOT_CSS*/", () => css)
    .replace("/*SCRIPT*/", () => script.replaceAll("</script", "<\\/script"));
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, html);
  return { path: outFile, bytes: Buffer.byteLength(html) };
}

function require_resolve(specifier: string): string {
  return fileURLToPath(import.meta.resolve(specifier));
}
