import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { httpLedger } from "@maaskit/settlement/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openApiDocument, tokenTable } from "../src/index.js";
import { OPERATOR_TOKEN, startService } from "./serverHarness.js";

const SLOW = "slow-token-0123456789abcdef0123";
const agreementId = `0x${"cd".repeat(32)}`;

interface Reply {
  error: { code: string; details: Record<string, unknown> };
}

async function post(url: string, method: string, body: string, token = OPERATOR_TOKEN) {
  const res = await fetch(`${url}/v1/ledger/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Reply };
}

describe("ledger service: bounds, health, metrics, OpenAPI", () => {
  let service: Awaited<ReturnType<typeof startService>>;
  beforeAll(async () => {
    service = await startService({
      limits: { maxBodyBytes: 10_000 },
    });
  });
  afterAll(() => service.stop());

  it("adversary: a body over the limit is 413 with the method's invalid code; the service stays up", async () => {
    const big = JSON.stringify({ agreementId, records: [], pad: "x".repeat(20_000) });
    const r = await post(service.url, "submitRecords", big);
    expect(r.status).toBe(413);
    expect(r.json.error.code).toBe("settlement.record.invalid");
    const health = await fetch(`${service.url}/healthz`);
    expect(await health.json()).toEqual({ ok: true, kind: "embedded" });
  });

  it("adversary: one token over its rate gets 429 with Retry-After (unavailable, retried by clients); others are not slowed", async () => {
    const limited = await startService({
      tokens: [{ name: "slow", token: SLOW, role: "relayer" }],
      limits: { ratePerSecond: 1, burst: 2 },
    });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 4; i++) {
      const r = await post(limited.url, "getEvents", "{}", SLOW);
      statuses.push(r.status);
      if (r.status === 429) {
        retryAfter = r.headers.get("retry-after");
        expect(r.json.error.code).toBe("settlement.ledger.unavailable");
      }
    }
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.slice(2)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const slow = httpLedger({ url: limited.url, auth: SLOW });
    await expect(slow.getEvents()).rejects.toMatchObject({ code: "settlement.ledger.unavailable" });
    const operator = httpLedger({ url: limited.url, auth: OPERATOR_TOKEN });
    await expect(operator.getEvents()).resolves.toEqual([]);
    await slow.close();
    await operator.close();
    await limited.stop();
  });

  it("error: malformed bodies keep the port's codes, with the path of the problem", async () => {
    const notJson = await post(service.url, "deposit", "{nope");
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.code).toBe("settlement.funds.invalidAmount");
    const badAmount = await post(
      service.url,
      "deposit",
      JSON.stringify({ agreementId, amount: "1e3", by: `0x${"11".repeat(20)}` }),
    );
    expect(badAmount.json.error).toMatchObject({
      code: "settlement.funds.invalidAmount",
      details: { problems: [{ path: "amount" }] },
    });
    const missing = await post(service.url, "getBalance", JSON.stringify({ agreementId }));
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe("settlement.agreement.notFound");
    expect((await post(service.url, "dropTables", "{}")).status).toBe(404);
    expect((await fetch(`${service.url}/v1/ledger/getBalance`)).status).toBe(405);
  });

  it("default: /metrics counts requests by route and status, with a latency histogram", async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toContain('maaskit_ledger_requests_total{route="submitRecords",status="413"} 1');
    expect(text).toContain('maaskit_ledger_requests_total{route="getBalance",status="404"} 1');
    expect(text).toMatch(
      /maaskit_ledger_request_duration_seconds_bucket\{route="deposit",le="\+Inf"\} 2/,
    );
    expect(text).toContain("maaskit_ledger_records_accepted_total 0");
  });

  it("default: openapi.json is the document generated from the protocol table, also served", async () => {
    const file = JSON.parse(readFileSync(new URL("../openapi.json", import.meta.url), "utf8"));
    expect(file).toEqual(openApiDocument());
    const served = await (await fetch(`${service.url}/openapi.json`)).json();
    expect(served).toEqual(file);
    expect(Object.keys(file.paths)).toHaveLength(29);
  });

  it("adversary: a sender that never finishes its request is cut off after requestTimeoutMs (408)", async () => {
    const slow = await startService({ limits: { requestTimeoutMs: 400 } });
    const port = Number(new URL(slow.url).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(
          `POST /v1/ledger/getEvents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${OPERATOR_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"fr`,
        );
      });
      let got = "";
      socket.on("data", (d) => {
        got += String(d);
      });
      socket.on("close", () => resolve(got));
      socket.on("error", reject);
      setTimeout(() => reject(new Error("the connection stayed open")), 10_000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    await slow.stop();
  });

  it("error: a tokens file with a short token, a party without address, or a duplicate is refused", () => {
    const bad = [
      { tokens: [{ name: "a", token: "short", role: "operator" }] },
      { tokens: [{ name: "a", token: "x".repeat(20), role: "party" }] },
      {
        tokens: [
          { name: "a", token: "x".repeat(20), role: "relayer" },
          { name: "b", token: "x".repeat(20), role: "relayer" },
        ],
      },
    ];
    for (const json of bad) {
      expect(() => tokenTable(json)).toThrow(
        expect.objectContaining({ code: "ledgerService.tokens.invalid" }),
      );
    }
  });
});
