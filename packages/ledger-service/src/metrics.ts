/** Upper bounds (s) of the latency histogram's buckets. */
const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The service's counters, rendered in the Prometheus text format (version 0.0.4). */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, { counts: number[]; sum: number; n: number }>();
  private recordsAccepted = 0;
  private recordsDuplicate = 0;

  /** Counts one answered request of `route` with `status`, taking `seconds`. */
  observe(route: string, status: number, seconds: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(route);
    if (h === undefined) {
      h = { counts: buckets.map(() => 0), sum: 0, n: 0 };
      this.latency.set(route, h);
    }
    h.counts = h.counts.map((c, i) => (seconds <= (buckets[i] as number) ? c + 1 : c));
    h.sum += seconds;
    h.n++;
  }

  /** Counts the records a `submitRecords` accepted and the duplicates it ignored. */
  records(accepted: number, duplicates: number): void {
    this.recordsAccepted += accepted;
    this.recordsDuplicate += duplicates;
  }

  render(): string {
    const out: string[] = [
      "# HELP maaskit_ledger_requests_total Requests answered, by route and HTTP status.",
      "# TYPE maaskit_ledger_requests_total counter",
    ];
    for (const [k, v] of this.requests) out.push(`maaskit_ledger_requests_total{${k}} ${v}`);
    out.push(
      "# HELP maaskit_ledger_records_accepted_total Meter records accepted (duplicates not counted).",
      "# TYPE maaskit_ledger_records_accepted_total counter",
      `maaskit_ledger_records_accepted_total ${this.recordsAccepted}`,
      "# HELP maaskit_ledger_records_duplicate_total Meter records submitted again (ignored).",
      "# TYPE maaskit_ledger_records_duplicate_total counter",
      `maaskit_ledger_records_duplicate_total ${this.recordsDuplicate}`,
      "# HELP maaskit_ledger_request_duration_seconds Time to answer a request, by route.",
      "# TYPE maaskit_ledger_request_duration_seconds histogram",
    );
    for (const [route, h] of this.latency) {
      buckets.forEach((b, i) => {
        out.push(
          `maaskit_ledger_request_duration_seconds_bucket{route="${route}",le="${b}"} ${h.counts[i]}`,
        );
      });
      out.push(
        `maaskit_ledger_request_duration_seconds_bucket{route="${route}",le="+Inf"} ${h.n}`,
        `maaskit_ledger_request_duration_seconds_sum{route="${route}"} ${h.sum}`,
        `maaskit_ledger_request_duration_seconds_count{route="${route}"} ${h.n}`,
      );
    }
    return `${out.join("\n")}\n`;
  }
}

/** A token bucket per caller: `rate` requests per second, bursts of up to `burst`. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token of `key`: 0 when allowed, else the ms until the next token. */
  take(key: string): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.burst, at: t };
    b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.rate);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.rate) * 1000);
  }
}
