import { assertOptionalInstalled } from "./optionalDependency.js";
import type * as Codec from "./sparkplugCodec.js";

/** The Sparkplug B payload codec (generated from Tahu's sparkplug_b.proto). */
export type SparkplugCodec = typeof Codec;

// A specifier in a variable: the bundler leaves this import alone, so `./sparkplugCodec.js`
// resolves next to this module at run time (src/ under vitest, dist/ once built) and
// @bufbuild/protobuf is loaded on first use only, from the ESM and the CJS build alike.
const CODEC = "./sparkplugCodec.js";

/**
 * Loads the codec; throws `maaskit.dependency.missing` (naming `entry`) when the optional
 * peer @bufbuild/protobuf is not installed.
 */
export async function loadSparkplugCodec(entry: string): Promise<SparkplugCodec> {
  assertOptionalInstalled("@bufbuild/protobuf", entry);
  return (await import(CODEC)) as SparkplugCodec;
}
