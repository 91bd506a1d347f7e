import { describe, expect, it } from "vitest";
import { Metrics, RateLimiter } from "./metrics.js";

describe("RateLimiter", () => {
  it("default: a burst passes, then one request per 1/rate seconds; keys are independent", () => {
    let now = 0;
    const limiter = new RateLimiter(2, 3, () => now);
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a")]).toEqual([0, 0, 0]);
    expect(limiter.take("a")).toBe(500);
    expect(limiter.take("b")).toBe(0);
    now = 500;
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(500);
    now = 100_000; // a long pause refills only up to the burst
    expect([limiter.take("a"), limiter.take("a"), limiter.take("a"), limiter.take("a")]).toEqual([
      0, 0, 0, 500,
    ]);
  });
});

describe("Metrics", () => {
  it("default: Prometheus text with cumulative histogram buckets", () => {
    const m = new Metrics();
    m.observe("submitRecords", 200, 0.004);
    m.observe("submitRecords", 200, 0.3);
    m.observe("submitRecords", 422, 20);
    m.records(7, 2);
    const text = m.render();
    expect(text).toContain('maaskit_ledger_requests_total{route="submitRecords",status="200"} 2');
    expect(text).toContain('maaskit_ledger_requests_total{route="submitRecords",status="422"} 1');
    expect(text).toContain('_bucket{route="submitRecords",le="0.005"} 1');
    expect(text).toContain('_bucket{route="submitRecords",le="0.5"} 2');
    expect(text).toContain('_bucket{route="submitRecords",le="10"} 2');
    expect(text).toContain('_bucket{route="submitRecords",le="+Inf"} 3');
    expect(text).toContain("maaskit_ledger_records_accepted_total 7");
    expect(text).toContain("maaskit_ledger_records_duplicate_total 2");
    expect(text.endsWith("\n")).toBe(true);
  });
});
