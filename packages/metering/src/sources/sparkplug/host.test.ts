import { describe, expect, it } from "vitest";
import {
  decodeSparkplugPayload,
  encodeRebirthRequest,
  encodeSparkplugPayload,
  type SparkplugMetricInit,
} from "./codec.js";
import {
  createSparkplugHost,
  type SparkplugHostOptions,
  type SparkplugHostOutput,
} from "./host.js";
import { SparkplugDataType as T } from "./values.js";

const G = "plant1";
const E = "edge1";
const T0 = 1_733_220_000_000;

function host(extra: Partial<SparkplugHostOptions> = {}) {
  const decoded: string[] = [];
  const h = createSparkplugHost({
    hostId: "maaskit-host",
    groupId: G,
    edgeNodeId: E,
    reorderTimeoutMs: 1000,
    rebirthCooldownMs: 5000,
    decode: (bytes) => {
      decoded.push("x");
      return decodeSparkplugPayload(bytes);
    },
    encodeRebirth: encodeRebirthRequest,
    ...extra,
  });
  return { h, decoded };
}

const topic = (type: string, device?: string) =>
  `spBv1.0/${G}/${type}/${E}${device === undefined ? "" : `/${device}`}`;

const birthMetrics = (bdSeq: bigint, volume: bigint, ts: bigint): SparkplugMetricInit[] => [
  { name: "bdSeq", datatype: T.UInt64, timestamp: ts, value: { case: "longValue", value: bdSeq } },
  {
    name: "Node Control/Rebirth",
    datatype: T.Boolean,
    timestamp: ts,
    value: { case: "booleanValue", value: false },
  },
  {
    name: "Volume",
    alias: 1n,
    datatype: T.UInt64,
    timestamp: ts,
    value: { case: "longValue", value: volume },
  },
  {
    name: "Temperature",
    alias: 2n,
    datatype: T.Int16,
    timestamp: ts,
    value: { case: "intValue", value: 0xfffe },
  },
];
const nbirth = (bdSeq: bigint, volume = 100n, ts = BigInt(T0)) =>
  encodeSparkplugPayload({ timestamp: ts, seq: 0n, metrics: birthMetrics(bdSeq, volume, ts) });
const ndata = (seq: bigint, volume: bigint, ts: bigint, extra: Partial<SparkplugMetricInit> = {}) =>
  encodeSparkplugPayload({
    timestamp: ts,
    seq,
    metrics: [{ alias: 1n, timestamp: ts, value: { case: "longValue", value: volume }, ...extra }],
  });
const ndeath = (bdSeq: bigint) =>
  encodeSparkplugPayload({
    metrics: [{ name: "bdSeq", datatype: T.UInt64, value: { case: "longValue", value: bdSeq } }],
  });

const metrics = (out: SparkplugHostOutput[]) =>
  out.flatMap((o) => (o.kind === "metric" ? [o] : []));
const values = (out: SparkplugHostOutput[], name = "Volume") =>
  metrics(out)
    .filter((m) => m.name === name)
    .map((m) => String(m.value));
const rebirths = (out: SparkplugHostOutput[]) =>
  out.filter((o) => o.kind === "publish" && o.topic === topic("NCMD"));

/**
 * A host that is connected and has seen an NBIRTH with bdSeq 3 at T0 (seq 0). It connected a
 * cooldown earlier, so the rebirth it asked for on connecting no longer holds the next one back.
 */
function born(extra: Partial<SparkplugHostOptions> = {}) {
  const x = host(extra);
  x.h.connected(T0 - 5000, T0 - 5000);
  x.h.message(topic("NBIRTH"), nbirth(3n), T0);
  return x;
}

describe("Sparkplug 3.0 host application (pure state machine on virtual time)", () => {
  describe("STATE", () => {
    it("tck-id-payloads-state-subscribe: the host subscribes to its own STATE topic first", () => {
      const { h } = host();
      expect(h.subscriptions()[0]).toBe("spBv1.0/STATE/maaskit-host");
      expect(h.subscriptions()).toContain(`spBv1.0/${G}/+/${E}/+`);
    });

    it("tck-id-operational-behavior-host-application-connect-will(-topic,-payload,-qos,-retained), tck-id-host-topic-phid-death-payload: the will is JSON {online:false,timestamp}, QoS 1, retained", () => {
      const w = host().h.will(T0);
      expect(w.topic).toBe("spBv1.0/STATE/maaskit-host");
      expect(JSON.parse(new TextDecoder().decode(w.payload))).toEqual({
        online: false,
        timestamp: T0,
      });
      expect([w.qos, w.retain]).toEqual([1, true]);
    });

    it("tck-id-host-topic-phid-birth-payload, tck-id-host-topic-phid-birth-payload-timestamp, tck-id-operational-behavior-host-application-connect-birth-qos/-retained: the birth is {online:true} with the will's timestamp, QoS 1, retained", () => {
      const out = host().h.connected(T0 + 50, T0);
      const birth = out.find(
        (o) => o.kind === "publish" && o.topic === "spBv1.0/STATE/maaskit-host",
      );
      expect(birth).toMatchObject({ qos: 1, retain: true });
      const payload = birth?.kind === "publish" ? birth.payload : new Uint8Array();
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
        online: true,
        timestamp: T0,
      });
    });

    it("STATE is parsed apart from data (never fed to protobuf): 3.0 JSON, 2.2 ONLINE/OFFLINE text, and garbage ignored with a reason", () => {
      const { h, decoded } = host();
      const enc = (s: string) => new TextEncoder().encode(s);
      expect(h.message("spBv1.0/STATE/scada", enc('{"online":true,"timestamp":5}'), T0)).toEqual([
        { kind: "hostState", hostId: "scada", online: true, timestamp: 5, version: "3.0" },
      ]);
      expect(h.message("STATE/scada", enc("OFFLINE"), T0)).toEqual([
        { kind: "hostState", hostId: "scada", online: false, version: "2.2" },
      ]);
      expect(h.message("spBv1.0/STATE/scada", enc('{"online":"yes"}'), T0)).toEqual([
        { kind: "ignored", topic: "spBv1.0/STATE/scada", reason: "sparkplug.badState" },
      ]);
      expect(h.message("spBv1.0/STATE/scada", nbirth(1n), T0)[0]).toMatchObject({
        reason: "sparkplug.badState",
      });
      expect(decoded).toEqual([]);
    });

    it("our own stale offline STATE (an old will) while connected is answered with our online STATE again", () => {
      const { h } = host();
      h.connected(T0, T0);
      const out = h.message(
        "spBv1.0/STATE/maaskit-host",
        new TextEncoder().encode(`{"online":false,"timestamp":${T0 - 9}}`),
        T0 + 1,
      );
      const again = out.find((o) => o.kind === "publish");
      expect(
        again?.kind === "publish" && JSON.parse(new TextDecoder().decode(again.payload)),
      ).toEqual({ online: true, timestamp: T0 });
    });
  });

  describe("births, aliases and datatypes", () => {
    it("tck-id-payloads-alias-birth-requirement, tck-id-payloads-alias-data-cmd-requirement: NBIRTH defines names, aliases and datatypes; NDATA is read by alias, exactly", () => {
      const { h } = host();
      h.connected(T0, T0);
      const birth = h.message(topic("NBIRTH"), nbirth(3n, 18446744073709551615n), T0);
      expect(values(birth)).toEqual(["18446744073709551615"]);
      expect(values(birth, "Temperature")).toEqual(["-2"]);
      expect(metrics(birth).every((m) => m.birth && m.bdSeq === 3n)).toBe(true);
      const data = h.message(
        topic("NDATA"),
        ndata(1n, 9223372036854775808n, BigInt(T0 + 1000)),
        T0 + 1000,
      );
      expect(metrics(data)).toEqual([
        expect.objectContaining({
          name: "Volume",
          datatype: T.UInt64,
          timestamp: BigInt(T0 + 1000),
          birth: false,
          seq: 1n,
        }),
      ]);
      expect(values(data)).toEqual(["9223372036854775808"]);
    });

    it("DBIRTH defines a device's aliases; DDATA is read by them; a device filter drops other devices", () => {
      const { h } = born({ deviceId: "compressor" });
      const dbirth = (seq: bigint) =>
        encodeSparkplugPayload({
          timestamp: BigInt(T0),
          seq,
          metrics: [
            {
              name: "Flow",
              alias: 10n,
              datatype: T.Double,
              value: { case: "doubleValue", value: 7.5 },
            },
          ],
        });
      expect(metrics(h.message(topic("DBIRTH", "compressor"), dbirth(1n), T0))).toMatchObject([
        { deviceId: "compressor", name: "Flow" },
      ]);
      expect(metrics(h.message(topic("DBIRTH", "other"), dbirth(2n), T0))).toEqual([]);
      const ddata = encodeSparkplugPayload({
        seq: 3n,
        timestamp: BigInt(T0 + 1),
        metrics: [{ alias: 10n, value: { case: "doubleValue", value: 0.1 } }],
      });
      expect(values(h.message(topic("DDATA", "compressor"), ddata, T0 + 1), "Flow")).toEqual([
        "0.1",
      ]);
    });

    it("metric outputs have the same keys in the same order on device data and on node data, quality only when sent", () => {
      const { h } = born();
      h.message(
        topic("DBIRTH", "d1"),
        encodeSparkplugPayload({ seq: 1n, metrics: birthMetrics(0n, 5n, BigInt(T0)).slice(2) }),
        T0,
      );
      const base = ["kind", "name", "datatype", "value", "timestamp", "historical", "birth"];
      const keys = (out: SparkplugHostOutput[]) => metrics(out).map((m) => Object.keys(m));
      const device = ["deviceId"];
      expect(keys(h.message(topic("DDATA", "d1"), ndata(2n, 6n, BigInt(T0 + 1)), T0 + 1))).toEqual([
        [...base, ...device, "bdSeq", "seq"],
      ]);
      expect(
        keys(
          h.message(topic("DDATA", "d1"), ndata(3n, 7n, BigInt(T0 + 2), { quality: 64 }), T0 + 2),
        ),
      ).toEqual([[...base, ...device, "quality", "bdSeq", "seq"]]);
      expect(
        keys(h.message(topic("NDATA"), ndata(4n, 8n, BigInt(T0 + 3), { quality: 64 }), T0 + 3)),
      ).toEqual([[...base, "quality", "bdSeq", "seq"]]);
      expect(keys(h.message(topic("NDATA"), ndata(5n, 9n, BigInt(T0 + 4)), T0 + 4))).toEqual([
        [...base, "bdSeq", "seq"],
      ]);
    });

    it("an alias the birth did not define is not guessed: ignored with a reason and a rebirth is requested", () => {
      const { h } = born();
      const out = h.message(
        topic("NDATA"),
        encodeSparkplugPayload({
          seq: 1n,
          metrics: [{ alias: 99n, value: { case: "longValue", value: 1n } }],
        }),
        T0 + 1,
      );
      expect(out).toContainEqual({
        kind: "ignored",
        topic: topic("NDATA"),
        reason: "sparkplug.unknownAlias",
      });
      expect(rebirths(out)).toHaveLength(1);
    });

    it("per-metric quality (property Quality, 192 good), timestamps and is_historical are carried into the output", () => {
      const { h } = born();
      const out = h.message(
        topic("NDATA"),
        ndata(1n, 150n, BigInt(T0 - 60_000), { isHistorical: true, quality: 0 }),
        T0 + 5,
      );
      expect(metrics(out)[0]).toMatchObject({
        historical: true,
        quality: 0,
        timestamp: BigInt(T0 - 60_000),
      });
      const live = h.message(
        topic("NDATA"),
        ndata(2n, 160n, BigInt(T0 + 6), { quality: 192 }),
        T0 + 6,
      );
      expect(metrics(live)[0]).toMatchObject({ historical: false, quality: 192 });
    });
  });

  describe("deaths and bdSeq", () => {
    it("tck-id-payloads-ndeath-bdseq, tck-id-operational-behavior-edge-node-termination-host-action-ndeath-node-offline/-devices-offline: an NDEATH with the session's bdSeq marks node and devices offline at host time", () => {
      const { h } = born();
      h.message(
        topic("DBIRTH", "d1"),
        encodeSparkplugPayload({
          seq: 1n,
          metrics: [
            { name: "X", alias: 5n, datatype: T.UInt8, value: { case: "intValue", value: 1 } },
          ],
        }),
        T0,
      );
      const out = h.message(topic("NDEATH"), ndeath(3n), T0 + 777);
      expect(out).toEqual([
        { kind: "offline", reason: "NDEATH", at: T0 + 777 },
        { kind: "offline", deviceId: "d1", reason: "NDEATH", at: T0 + 777 },
      ]);
      // data after the death is not read as the dead session's (no session until a birth)
      expect(
        metrics(h.message(topic("NDATA"), ndata(2n, 200n, BigInt(T0 + 800)), T0 + 800)),
      ).toEqual([]);
    });

    it("tck-id-topics-nbirth-bdseq-matching: a death whose bdSeq is not the current session's (a stale will) is ignored; data goes on", () => {
      const { h } = born();
      expect(h.message(topic("NDEATH"), ndeath(2n), T0 + 1)).toEqual([
        { kind: "ignored", topic: topic("NDEATH"), reason: "sparkplug.staleDeath" },
      ]);
      expect(values(h.message(topic("NDATA"), ndata(1n, 101n, BigInt(T0 + 2)), T0 + 2))).toEqual([
        "101",
      ]);
    });

    it("after a death the next birth is preceded by a resync at the birth's timestamp, so counters bridge from the registers", () => {
      const { h } = born();
      h.message(topic("NDEATH"), ndeath(3n), T0 + 10);
      const out = h.message(topic("NBIRTH"), nbirth(4n, 500n, BigInt(T0 + 60_000)), T0 + 60_000);
      expect(out[0]).toEqual({
        kind: "resync",
        reason: "sparkplug.death",
        at: BigInt(T0 + 60_000),
      });
      expect(values(out)).toEqual(["500"]);
    });
    it("tck-id-operational-behavior-device-ddeath: a DDEATH takes the device offline; its data is not read until its DBIRTH, which resyncs the device", () => {
      const { h } = born();
      const dbirth = (seq: bigint, v: number) =>
        encodeSparkplugPayload({
          timestamp: BigInt(T0 + Number(seq)),
          seq,
          metrics: [
            { name: "X", alias: 5n, datatype: T.UInt32, value: { case: "intValue", value: v } },
          ],
        });
      h.message(topic("DBIRTH", "d1"), dbirth(1n, 10), T0 + 1);
      expect(
        h.message(topic("DDEATH", "d1"), encodeSparkplugPayload({ seq: 2n, metrics: [] }), T0 + 2),
      ).toEqual([{ kind: "offline", deviceId: "d1", reason: "DDEATH", at: T0 + 2 }]);
      const ddata = encodeSparkplugPayload({
        seq: 3n,
        metrics: [{ alias: 5n, value: { case: "intValue", value: 11 } }],
      });
      expect(metrics(h.message(topic("DDATA", "d1"), ddata, T0 + 3))).toEqual([]);
      const out = h.message(topic("DBIRTH", "d1"), dbirth(4n, 20), T0 + 4);
      expect(out[0]).toEqual({
        kind: "resync",
        deviceId: "d1",
        reason: "sparkplug.death",
        at: BigInt(T0 + 4),
      });
      expect(values(out, "X")).toEqual(["20"]);
    });
  });

  describe("sequence numbers, reordering and rebirth", () => {
    it("tck-id-payloads-sequence-num-incrementing: seq wraps 255 → 0 without a gap", () => {
      const { h } = born();
      let out: SparkplugHostOutput[] = [];
      for (let s = 1; s <= 300; s++) {
        out = out.concat(
          h.message(
            topic("NDATA"),
            ndata(BigInt(s % 256), BigInt(100 + s), BigInt(T0 + s)),
            T0 + s,
          ),
        );
      }
      expect(values(out)).toHaveLength(300);
      expect(rebirths(out)).toEqual([]);
      expect(h.nextDeadline()).toBeUndefined();
    });

    it("tck-id-operational-behavior-host-reordering-param, tck-id-operational-behavior-host-reordering-start, tck-id-operational-behavior-host-reordering-success: an out-of-order message waits; when the missing one arrives in time both are used in seq order, no rebirth", () => {
      const { h } = born();
      expect(h.message(topic("NDATA"), ndata(2n, 120n, BigInt(T0 + 2)), T0 + 2)).toEqual([]);
      expect(h.nextDeadline()).toBe(T0 + 2 + 1000);
      const out = h.message(topic("NDATA"), ndata(1n, 110n, BigInt(T0 + 1)), T0 + 3);
      expect(values(out)).toEqual(["110", "120"]);
      expect(h.nextDeadline()).toBeUndefined();
      expect(rebirths(h.tick(T0 + 5000))).toEqual([]);
    });

    it("tck-id-operational-behavior-host-reordering-rebirth, tck-id-operational-behavior-data-commands-ncmd-rebirth-name/-value/-verb: when the reorder timeout elapses, the host requests a rebirth (NCMD Node Control/Rebirth = true) and bridges the hole", () => {
      const { h } = born();
      h.message(topic("NDATA"), ndata(3n, 130n, BigInt(T0 + 3)), T0 + 3);
      expect(h.tick(T0 + 1002)).toEqual([]);
      const out = h.tick(T0 + 1003);
      const [ncmd] = rebirths(out);
      expect(ncmd).toMatchObject({ qos: 0, retain: false });
      const cmd = decodeSparkplugPayload(
        ncmd?.kind === "publish" ? ncmd.payload : new Uint8Array(),
      );
      expect(cmd.metrics).toMatchObject([
        {
          name: "Node Control/Rebirth",
          datatype: T.Boolean,
          value: { case: "booleanValue", value: true },
        },
      ]);
      expect(out).toContainEqual({
        kind: "resync",
        reason: "sparkplug.seqGap",
        at: BigInt(T0 + 3),
      });
      expect(values(out)).toEqual(["130"]);
    });

    it("rebirth requests: at most one per node per cooldown, the wanted one sent when the cooldown ends", () => {
      const { h } = born();
      h.message(topic("NDATA"), ndata(3n, 130n, BigInt(T0 + 3)), T0 + 3);
      expect(rebirths(h.tick(T0 + 1003))).toHaveLength(1);
      h.message(topic("NDATA"), ndata(6n, 160n, BigInt(T0 + 1100)), T0 + 1100);
      expect(rebirths(h.tick(T0 + 2100))).toEqual([]);
      // unknown data while no session asks again, still inside the cooldown
      h.message(topic("NDEATH"), ndeath(3n), T0 + 2200);
      expect(
        rebirths(h.message(topic("NDATA"), ndata(7n, 170n, BigInt(T0 + 2300)), T0 + 2300)),
      ).toEqual([]);
      expect(h.nextDeadline()).toBe(T0 + 1003 + 5000);
      expect(rebirths(h.tick(T0 + 6002))).toEqual([]);
      expect(rebirths(h.tick(T0 + 6003))).toHaveLength(1);
      expect(h.nextDeadline()).toBeUndefined();
    });

    it("a secondary host (requestRebirths: false) never publishes; a timed-out gap is bridged from the registers", () => {
      const { h } = born({ requestRebirths: false });
      h.message(topic("NDATA"), ndata(2n, 120n, BigInt(T0 + 2)), T0 + 2);
      const out = h.tick(T0 + 1002);
      expect(out.filter((o) => o.kind === "publish")).toEqual([]);
      expect(out[0]).toMatchObject({ kind: "resync", reason: "sparkplug.seqGap" });
      expect(values(out)).toEqual(["120"]);
      expect(values(h.message(topic("NDATA"), ndata(3n, 125n, BigInt(T0 + 3)), T0 + 1003))).toEqual(
        ["125"],
      );
    });

    it("a duplicate (already used) seq is ignored, not counted twice", () => {
      const { h } = born();
      h.message(topic("NDATA"), ndata(1n, 110n, BigInt(T0 + 1)), T0 + 1);
      expect(h.message(topic("NDATA"), ndata(1n, 110n, BigInt(T0 + 1)), T0 + 2)).toEqual([
        { kind: "ignored", topic: topic("NDATA"), reason: "sparkplug.duplicateSeq" },
      ]);
    });

    it("DATA from a node without a session (host started late, or after a death) is ignored and a rebirth requested", () => {
      const { h } = host();
      h.connected(T0, T0);
      const out = h.message(topic("NDATA"), ndata(17n, 10n, BigInt(T0)), T0 + 6000);
      expect(out[0]).toEqual({
        kind: "ignored",
        topic: topic("NDATA"),
        reason: "sparkplug.noSession",
      });
      expect(rebirths(out)).toHaveLength(1);
    });

    it("after a broker connection loss the host asks for births on reconnect and resyncs at the new birth", () => {
      const { h } = born();
      h.connectionLost(T0 + 10);
      expect(rebirths(h.connected(T0 + 20_000, T0 + 20_000))).toHaveLength(1);
      const out = h.message(topic("NBIRTH"), nbirth(3n, 900n, BigInt(T0 + 20_050)), T0 + 20_050);
      expect(out[0]).toEqual({
        kind: "resync",
        reason: "source.reconnected",
        at: BigInt(T0 + 20_050),
      });
    });
  });

  describe("commands are not data", () => {
    it("tck-id-operational-behavior-data-commands-ncmd-verb, tck-id-operational-behavior-data-commands-dcmd-verb: NCMD and DCMD (our own rebirth requests included) are never read as data nor decoded", () => {
      const { h, decoded } = born();
      const before = decoded.length;
      const cmd = encodeSparkplugPayload({
        metrics: [{ name: "Volume", datatype: T.UInt64, value: { case: "longValue", value: 1n } }],
      });
      expect(h.message(topic("NCMD"), encodeRebirthRequest(T0), T0 + 1)).toEqual([
        { kind: "ignored", topic: topic("NCMD"), reason: "sparkplug.command" },
      ]);
      expect(metrics(h.message(topic("DCMD", "d1"), cmd, T0 + 2))).toEqual([]);
      expect(decoded.length).toBe(before);
      expect(rebirths(h.tick(T0 + 100_000))).toEqual([]);
    });

    it("a flipped byte: a payload that does not decode is ignored with a reason, the session goes on", () => {
      const { h } = born();
      const bytes = ndata(1n, 110n, BigInt(T0 + 1));
      const broken = bytes.slice(0, bytes.length - 3);
      broken[0] = 0xff;
      expect(h.message(topic("NDATA"), broken, T0 + 1)).toEqual([
        { kind: "ignored", topic: topic("NDATA"), reason: "sparkplug.undecodable" },
      ]);
      expect(values(h.message(topic("NDATA"), bytes, T0 + 2))).toEqual(["110"]);
    });

    it("messages of other groups and edge nodes are ignored", () => {
      const { h } = born();
      expect(h.message(`spBv1.0/${G}/NDATA/other`, ndata(1n, 1n, 1n), T0)[0]).toMatchObject({
        reason: "sparkplug.otherTopic",
      });
      expect(h.message(`spBv1.0/g2/NDATA/${E}`, ndata(1n, 1n, 1n), T0)[0]).toMatchObject({
        reason: "sparkplug.otherTopic",
      });
    });
  });
});
