import { describe, expect, it } from "vitest";
import { Dec } from "../../quantity.js";
import { decodeSparkplugPayload, encodeSparkplugPayload } from "./codec.js";
import { isValueProblem, metricValue, rawValueOf, SparkplugDataType as T } from "./values.js";

/** Encodes one metric, decodes it back, reads it as `datatype`. */
function roundTrip(value: ReturnType<typeof rawValueOf>, datatype: number) {
  const bytes = encodeSparkplugPayload({ seq: 1n, metrics: [{ alias: 1n, datatype, value }] });
  const [m] = decodeSparkplugPayload(bytes).metrics;
  const v = metricValue(m!.value, datatype);
  if (isValueProblem(v)) return v;
  return typeof v === "object" ? v.toFixed() : v;
}

describe("Sparkplug B codec (@bufbuild/protobuf, generated from Tahu's sparkplug_b.proto)", () => {
  it.each([
    ["UInt64 2^64-1", T.UInt64, "18446744073709551615"],
    ["UInt64 2^63", T.UInt64, "9223372036854775808"],
    ["UInt64 0", T.UInt64, "0"],
    ["Int64 -2^63", T.Int64, "-9223372036854775808"],
    ["Int64 2^63-1", T.Int64, "9223372036854775807"],
    ["Int64 -1", T.Int64, "-1"],
    ["UInt32 2^32-1", T.UInt32, "4294967295"],
    ["Int32 -2^31", T.Int32, "-2147483648"],
    ["Int16 -32768", T.Int16, "-32768"],
    ["Int8 -1", T.Int8, "-1"],
    ["UInt8 255", T.UInt8, "255"],
    ["DateTime (ms, uint64)", T.DateTime, "1733220000123"],
  ])("tck-id-payloads-metric-datatype-value: %s is exact (bigint → Decimal, never through number)", (_n, datatype, text) => {
    expect(roundTrip(rawValueOf(new Dec(text), datatype), datatype)).toBe(text);
  });

  it("UInt32 is read from int_value (spec 3.0) and from long_value (Tahu JS, older Ignition)", () => {
    expect(metricValue({ case: "intValue", value: 4294967295 }, T.UInt32)).toEqual(
      metricValue({ case: "longValue", value: 4294967295n }, T.UInt32),
    );
    expect(String(metricValue({ case: "longValue", value: 4294967295n }, T.UInt32))).toBe(
      "4294967295",
    );
  });

  it("Int8/16/32 sent as their two's complement in uint32 are sign-extended (json-scada's 4294967295 for -1)", () => {
    expect(String(metricValue({ case: "intValue", value: 0xffffffff }, T.Int8))).toBe("-1");
    expect(String(metricValue({ case: "intValue", value: 0xffff8000 }, T.Int16))).toBe("-32768");
    expect(String(metricValue({ case: "intValue", value: 0x80000000 }, T.Int32))).toBe(
      "-2147483648",
    );
  });

  it("every integer width gives the value of its two's complement reference in bigint, on both sides of 2^53 (the number fast path is exact)", () => {
    const words = [
      0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
    ];
    const widths = [
      [T.Int8, 8, true],
      [T.Int16, 16, true],
      [T.Int32, 32, true],
      [T.UInt8, 8, false],
      [T.UInt16, 16, false],
      [T.UInt32, 32, false],
    ] as const;
    for (const [datatype, bits, signed] of widths) {
      for (const w of words) {
        const big = signed ? BigInt.asIntN(bits, BigInt(w)) : BigInt.asUintN(bits, BigInt(w));
        expect(String(metricValue({ case: "intValue", value: w }, datatype))).toBe(String(big));
        expect(String(metricValue({ case: "longValue", value: BigInt(w) }, datatype))).toBe(
          String(big),
        );
      }
    }
    const safe = 2n ** 53n;
    for (const v of [safe - 1n, safe, safe + 1n, 2n ** 64n - 1n]) {
      expect(metricValue({ case: "longValue", value: v }, T.UInt64)).toEqual(new Dec(v.toString()));
      const neg = BigInt.asIntN(64, -v);
      expect(metricValue({ case: "longValue", value: BigInt.asUintN(64, neg) }, T.Int64)).toEqual(
        new Dec(neg.toString()),
      );
    }
  });

  it("Float is its shortest float32 decimal, Double its shortest decimal, never the binary expansion", () => {
    expect(roundTrip({ case: "floatValue", value: 0.1 }, T.Float)).toBe("0.1");
    expect(roundTrip({ case: "doubleValue", value: 0.1 }, T.Double)).toBe("0.1");
    expect(roundTrip({ case: "doubleValue", value: 12345.125 }, T.Double)).toBe("12345.125");
  });

  it("a value of the wrong wire type, a null and an unsupported type are problems, not values", () => {
    expect(metricValue({ case: "stringValue", value: "12" }, T.UInt64)).toEqual({
      problem: "value.typeMismatch",
    });
    expect(metricValue({ case: "doubleValue", value: Number.NaN }, T.Double)).toEqual({
      problem: "value.typeMismatch",
    });
    expect(metricValue({ case: "longValue", value: 5n }, T.UInt64, true)).toEqual({
      problem: "value.null",
    });
    expect(metricValue({ case: undefined }, T.UInt64)).toEqual({ problem: "value.null" });
    expect(metricValue({ case: "longValue", value: 5n }, 16 /* DataSet */)).toEqual({
      problem: "value.unsupportedType",
    });
  });

  it("field presence is kept: a DATA metric has an alias and no name; quality travels as a property", () => {
    const bytes = encodeSparkplugPayload({
      timestamp: 1733220000000n,
      seq: 255n,
      metrics: [
        {
          alias: 7n,
          timestamp: 1733220000001n,
          value: { case: "longValue", value: 1n },
          quality: 192,
        },
      ],
    });
    const p = decodeSparkplugPayload(bytes);
    expect(p.seq).toBe(255n);
    expect(p.timestamp).toBe(1733220000000n);
    expect(p.metrics[0]).toEqual({
      alias: 7n,
      timestamp: 1733220000001n,
      isHistorical: false,
      isNull: false,
      value: { case: "longValue", value: 1n },
      quality: 192,
    });
    expect("name" in p.metrics[0]!).toBe(false);
  });

  it("every combination of present fields decodes to exactly those keys, in one order (the usual DATA metric's shortcut included)", () => {
    const order = [
      "isHistorical",
      "isNull",
      "value",
      "name",
      "alias",
      "timestamp",
      "datatype",
      "quality",
    ];
    const optional = {
      name: "m",
      alias: 3n,
      timestamp: 5n,
      datatype: T.UInt64,
      quality: 192,
    } as const;
    const names = Object.keys(optional) as (keyof typeof optional)[];
    for (let mask = 0; mask < 2 ** names.length; mask++) {
      const chosen = names.filter((_, i) => mask & (1 << i));
      const metric = Object.fromEntries(chosen.map((k) => [k, optional[k]]));
      for (const header of [{}, { seq: 1n }, { timestamp: 9n, seq: 2n }]) {
        const p = decodeSparkplugPayload(
          encodeSparkplugPayload({
            ...header,
            metrics: [{ ...metric, value: { case: "longValue", value: 1n } }],
          }),
        );
        expect(Object.keys(p.metrics[0]!)).toEqual(
          order.filter((k) => k in metric || order.indexOf(k) < 3),
        );
        expect(p.metrics[0]).toStrictEqual({
          isHistorical: false,
          isNull: false,
          value: { case: "longValue", value: 1n },
          ...metric,
        });
        expect(Object.keys(p)).toEqual(
          ["metrics", "timestamp", "seq"].filter((k) => k === "metrics" || k in header),
        );
      }
    }
  });

  it("identical inputs give identical bytes", () => {
    const init = {
      seq: 3n,
      metrics: [
        { name: "Volume", alias: 1n, datatype: T.UInt64, value: rawValueOf(true, T.Boolean) },
      ],
    };
    expect(encodeSparkplugPayload(init)).toEqual(encodeSparkplugPayload(init));
  });

  it("bytes that are not a payload throw (the host then ignores the message with a reason)", () => {
    expect(() => decodeSparkplugPayload(new TextEncoder().encode('{"online":true}'))).toThrow();
  });
});
