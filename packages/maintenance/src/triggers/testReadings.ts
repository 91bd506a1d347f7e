import { dec, type Reading } from "@maaskit/metering";

/** Test helper: a good numeric reading of machine `c1` at `t` seconds after 2026-01-01. */
export function reading(channel: string, value: string, tSeconds: number, unit = "HUR"): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel,
    value: dec(value),
    unit,
    quality: "good",
    sourceTime: new Date(Date.UTC(2026, 0, 1) + tSeconds * 1000),
  };
}
