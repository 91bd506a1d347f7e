import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../../errors.js";
import { fromMqtt } from "../fromMqtt.js";
import { type FromSparkplugOptions, fromSparkplug } from "./fromSparkplug.js";

const valid: FromSparkplugOptions = {
  brokerUrl: "mqtt://127.0.0.1:1",
  groupId: "plant1",
  edgeNodeId: "edge1",
  hostId: "meter",
  metrics: [{ name: "Volume", channel: "volume", unit: "MTQ", scale: "0.001" }],
};

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    expect(isMaaskitError(e)).toBe(true);
    return (e as { details: { problems: string[] } }).details.problems;
  }
  throw new Error("did not throw");
}

describe("fromSparkplug options", () => {
  it("error: every problem at once (metering.sparkplug.invalidConfig): wildcards in ids, no metrics, a channel twice, a zero scale", () => {
    const p = problems(() =>
      fromSparkplug({
        ...valid,
        brokerUrl: "http://x",
        groupId: "a/+",
        hostId: "",
        metrics: [
          { name: "A", channel: "c" },
          { name: "B", channel: "c", scale: "0" },
        ],
      }),
    );
    expect(p).toEqual([
      "brokerUrl must be an mqtt://, mqtts://, ws:// or wss:// URL",
      "groupId must be a non-empty topic segment without / + #",
      "hostId must be a non-empty topic segment without / + #",
      'metrics[1].channel "c" is mapped twice',
      "metrics[1].scale must be a finite non-zero decimal",
    ]);
    expect(problems(() => fromSparkplug({ ...valid, metrics: [] }))).toEqual([
      "metrics must list at least one metric",
    ]);
  });

  it("default: valid options give a cold observable (nothing connects before subscribe)", () => {
    expect(typeof fromSparkplug(valid).subscribe).toBe("function");
  });

  it("error: a broker that never answers ends the stream with metering.sparkplug.connectionFailed", async () => {
    const err = await new Promise((resolve) =>
      fromSparkplug({ ...valid, connectTimeoutMs: 300, reconnectPeriodMs: 100 }).subscribe({
        error: resolve,
      }),
    );
    expect(isMaaskitError(err, "metering.sparkplug.connectionFailed")).toBe(true);
  });
});

describe("fromMqtt options", () => {
  it("error: every problem at once (metering.mqtt.invalidConfig)", () => {
    expect(
      problems(() =>
        fromMqtt({ brokerUrl: "mqtt://x", machineId: "", topics: [{ topic: "a/#", channel: "" }] }),
      ),
    ).toEqual([
      "machineId must be a non-empty string",
      "topics[0].topic must be a topic without wildcards",
      "topics[0].channel must be a non-empty string",
    ]);
  });
});
