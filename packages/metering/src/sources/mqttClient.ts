import type * as Mqtt from "mqtt";
import { requireOptional } from "../optionalDependency.js";

let loaded: typeof Mqtt | undefined;

/**
 * `mqtt` (5.x), an optional peer dependency, loaded on first use, so that importing
 * `@maaskit/metering/sparkplug` or `/mqtt` without it succeeds and using them fails with
 * `maaskit.dependency.missing`.
 */
export function loadMqtt(entry: string): typeof Mqtt {
  loaded ??= requireOptional<typeof Mqtt>("mqtt", entry);
  return loaded;
}

/** OPC-style quality of a numeric code (OPC DA: 0xC0 good, 0x40 uncertain, else bad). */
export function qualityOfCode(code: number): "good" | "uncertain" | "bad" {
  const q = code & 0xc0;
  return q === 0xc0 ? "good" : q === 0x40 ? "uncertain" : "bad";
}

/** Topic segments (group, edge node, device, host ids) must not be empty or hold `/ + #`. */
export function badTopicSegment(value: unknown): boolean {
  return typeof value !== "string" || value === "" || /[/+#]/.test(value);
}
