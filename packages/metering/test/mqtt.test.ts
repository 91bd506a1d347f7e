import { connect } from "mqtt";
import { lastValueFrom, take, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromMqtt } from "../src/mqtt.js";
import type { MeterEvent } from "../src/reading.js";
import { startTestBroker, type TestBroker, uniqueGroupId } from "./support/mqttBroker.js";

describe("fromMqtt: plain JSON topics on a real broker", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => broker.stop());

  it("reads exact values (decimal strings, bare text beyond 2^64, ISO and ms timestamps, OPC DA quality) and quarantines an integer JSON number beyond 2^53 instead of rounding it", async () => {
    const base = uniqueGroupId("mqtt");
    const events = lastValueFrom(
      fromMqtt({
        brokerUrl: broker.url,
        machineId: "m1",
        topics: [
          { topic: `${base}/volume`, channel: "volume", unit: "MTQ", qualityPath: "q" },
          { topic: `${base}/raw`, channel: "raw", valuePath: "", unit: "MTQ" },
        ],
        receiveTimeFallback: true,
      }).pipe(take(5), toArray()),
    );
    const pub = connect(broker.url);
    await new Promise((r) => pub.once("connect", r));
    await new Promise((r) => setTimeout(r, 300)); // the source has subscribed
    const send = (t: string, p: string) => new Promise((r) => pub.publish(t, p, { qos: 1 }, r));
    await send(
      `${base}/volume`,
      '{"value":"18446744073709551615.125","timestamp":1733220000000,"q":192}',
    );
    await send(`${base}/volume`, '{"value":0.1,"timestamp":"2024-12-03T10:00:01Z","q":64}');
    await send(`${base}/volume`, '{"value":9007199254740993,"timestamp":1733220002000,"q":192}');
    await send(`${base}/volume`, '{"value":1,"q":192}');
    await send(`${base}/raw`, "12345678901234567890.5");
    const out: MeterEvent[] = await events;
    pub.end(true);
    expect(
      out.map((e) =>
        e.kind === "reading"
          ? `${e.channel}=${String(e.value)} ${e.quality}`
          : `${e.kind}:${"reason" in e ? e.reason : ""}`,
      ),
    ).toEqual([
      "volume=18446744073709551615.125 good",
      "volume=0.1 uncertain",
      "quarantine:value.unsafeNumber",
      "volume=1 good",
      "raw=12345678901234567890.5 good",
    ]);
  }, 30_000);
});
