// Module-loader hooks (they run on the loader thread): remember the URL every `import`
// resolves to, and hand the list to the probe when it asks. `require()` calls inside
// CommonJS packages do not pass through these hooks on Node 20; the probe reads those
// from `require.cache`.
let port;
const urls = new Set();

export function initialize(data) {
  port = data.port;
  port.on("message", () => port.postMessage([...urls]));
  port.unref();
}

export async function resolve(specifier, context, nextResolve) {
  const out = await nextResolve(specifier, context);
  urls.add(out.url);
  return out;
}
