// `maaskit-gateway run` delivering to a central ledger — the `maaskit-ledger serve` service over
// HTTP (`ledger: { type: "http" }`), and PostgreSQL directly (`ledger: { type: "postgres" }`) —
// with the OPC UA simulator: the gateway offers the agreement as the provider, the customer
// accepts it on the central ledger with its own credentials, and the bill read back from the
// central ledger equals the simulator's ground truth exactly.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Invoice, LedgerBackend, RecordsHead } from "@maaskit/settlement";
import { httpLedger } from "@maaskit/settlement/http";
import { postgresLedger } from "@maaskit/settlement/postgres";
import { type PostgresTarget, postgresTarget } from "@maaskit/test-support/postgres";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, newUserScenario, runToEnd } from "./support/scenario.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
const packages = join(pkg, "..");
// The gateway from source (as cli.test.ts); the ledger service and `maaskit verify` as built.
const cmd = {
  exe: process.execPath,
  args: ["--conditions", "source", "--import", "tsx", join(pkg, "src/cli.ts")],
  cwd: pkg,
};
const ledgerBin = join(packages, "ledger-service", "bin", "maaskit-ledger.js");
const maaskitBin = join(packages, "metering", "bin", "maaskit.js");

const cleanup: (() => Promise<void> | void)[] = [];
beforeAll(() => {
  for (const f of [ledgerBin, maaskitBin].map((b) => join(b, "..", "..", "dist", "cli.js")))
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` first`);
});
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `maaskit-gw-${label}-`));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The agreement `init` wrote. */
function agreementOf(dir: string) {
  return JSON.parse(readFileSync(join(dir, "agreement.json"), "utf8")) as {
    agreementId: string;
    parties: { provider: string; customer: string };
    signers: { address: string }[];
  };
}

/** `maaskit-ledger serve` as a child process; resolves with its URL once it listens. */
async function serveLedger(ledgerArgs: readonly string[], tokensFile: string) {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [ledgerBin, "serve", "--port", String(port), ...ledgerArgs, "--auth", tokensFile],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  };
  cleanup.push(stop);
  const url = await new Promise<string>((ok, fail) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) ok(m[1]!);
    });
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString("utf8");
    });
    child.once("exit", (code) => fail(new Error(`maaskit-ledger exited (${code}): ${err}`)));
  });
  return { url, stop };
}

/**
 * The customer's side: once the gateway has offered the agreement on the central ledger, the
 * customer accepts it there (the gateway never accepts for the customer on a central ledger).
 */
function acceptWhenOffered(customer: LedgerBackend, agreementId: string, by: string) {
  let done = false;
  cleanup.push(() => {
    done = true;
  });
  const accepted = (async () => {
    while (!done) {
      const state = await customer.getAgreement(agreementId).catch(() => undefined);
      if (state?.status === "pending") {
        await customer.acceptAgreement({ agreementId, by });
        return true;
      }
      if (state?.status === "active") return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  })();
  return accepted;
}

/**
 * The run against the central ledger `ledgerConfig` names, then the checks on what the central
 * ledger holds, read back through `reader` (not through the gateway).
 */
async function centralScenario(
  dir: string,
  ledgerConfig: (agreement: ReturnType<typeof agreementOf>) => Promise<{
    config: Record<string, unknown>;
    customer: LedgerBackend;
    reader: LedgerBackend;
  }>,
) {
  let reader: LedgerBackend | undefined;
  let accepted: Promise<boolean> | undefined;
  const { summary, truth } = await newUserScenario(cmd, dir, {
    lateMs: 1000,
    accelerate: 3600,
    until: "30h",
    configure: async (json) => {
      const a = agreementOf(dir);
      const l = await ledgerConfig(a);
      json.ledger = l.config;
      reader = l.reader;
      accepted = acceptWhenOffered(l.customer, a.agreementId, a.parties.customer);
    },
  });
  expect(await accepted).toBe(true);
  const a = agreementOf(dir);
  const central = reader!;
  // The agreement is active on the central ledger: offered by the gateway, accepted by the customer.
  expect((await central.getAgreement(a.agreementId)).status).toBe("active");

  // Every journaled record was accepted by the central ledger exactly once, in order: its
  // chain head is the journal's last record.
  const records = readFileSync(join(dir, "out", "records.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { seq: number; quantity: { value: string } });
  expect(summary.journaled).toBe(records.length);
  expect(summary.records).toBe(records.length);
  expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i));
  // `maaskit verify` on the exported records, against the gateway's signer.
  const verify = await runToEnd({ exe: process.execPath, args: [maaskitBin], cwd: dir }, [
    "verify",
    join(dir, "out", "records.jsonl"),
    "--signer",
    a.signers[0]!.address,
  ]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  // The central ledger's chain head is the verified export's head.
  const verifiedHead = /head (0x[0-9a-fA-F]{64})/.exec(verify.stdout)?.[1];
  expect(verifiedHead, verify.stdout).toBeDefined();
  const head: RecordsHead = await central.getRecordsHead(a.agreementId);
  expect(head.nextSeq).toBe(records.length);
  expect(head.headHash.toLowerCase()).toBe(verifiedHead!.toLowerCase());

  // The bill, read back from the central ledger, is exactly what the records say, and the
  // records' total is the simulator's ground truth.
  const invoices: readonly Invoice[] = await central.getInvoices(a.agreementId);
  expect(invoices.length).toBeGreaterThanOrEqual(1);
  expect(
    invoices.map((i) => ({
      period: `${i.period.start.toISOString()}/${i.period.end.toISOString()}`,
      usage: i.usage.value.toFixed(),
      total: i.total.toFixed(),
    })),
  ).toEqual(summary.invoices);
  const recordsTotal = records.reduce((s, r) => s.plus(r.quantity.value), new Decimal(0));
  expect(recordsTotal.eq(truth), `records ${recordsTotal} vs truth ${truth}`).toBe(true);
  const billed = invoices.reduce((s, i) => s.plus(i.usage.value), new Decimal(0));
  expect(billed.gt(0)).toBe(true);
  expect(billed.lte(truth)).toBe(true);

  return { summary, truth, invoices };
}

describe("maaskit-gateway run delivering to a central ledger", () => {
  it("default: ledger {type: http} → `maaskit-ledger serve` (PostgreSQL on DATABASE_URL, else its embedded ledger); the customer accepts there; the bill read back from the service equals the ground truth", async () => {
    const dir = tempDir("central-http");
    let db: PostgresTarget | undefined;
    const ledgerArgs: string[] = [];
    if (process.env.DATABASE_URL) {
      db = await postgresTarget("gateway-central-http");
      cleanup.push(() => db!.drop());
      ledgerArgs.push("--database-url", db.connectionString!);
    } else {
      ledgerArgs.push("--data-dir", join(dir, "ledger"));
      console.info(
        "[gateway-central-http] DATABASE_URL is not set: `maaskit-ledger serve --data-dir` (its embedded ledger)",
      );
    }
    const tokens = {
      provider: `gateway-${process.pid}-0123456789abcdef`,
      customer: `customer-${process.pid}-0123456789abcdef`,
    };
    await centralScenario(dir, async (a) => {
      const tokensFile = join(dir, "tokens.json");
      writeFileSync(
        tokensFile,
        JSON.stringify({
          tokens: [
            // The gateway acts as the provider, and only as the provider.
            {
              name: "gateway",
              token: tokens.provider,
              role: "party",
              address: a.parties.provider,
            },
            {
              name: "customer",
              token: tokens.customer,
              role: "party",
              address: a.parties.customer,
            },
          ],
        }),
      );
      const service = await serveLedger(ledgerArgs, tokensFile);
      const tokenFile = join(dir, "ledger.token");
      writeFileSync(tokenFile, `${tokens.provider}\n`, { mode: 0o600 });
      const customer = httpLedger({ url: service.url, auth: tokens.customer });
      cleanup.push(() => customer.close());
      return { config: { type: "http", url: service.url, tokenFile }, customer, reader: customer };
    });
  }, 240_000);

  it.runIf(Boolean(process.env.DATABASE_URL))(
    "default: ledger {type: postgres} on DATABASE_URL directly; the customer accepts there; the bill read back from the database equals the ground truth",
    async () => {
      const dir = tempDir("central-pg");
      const db = await postgresTarget("gateway-central-pg");
      cleanup.push(() => db.drop());
      const connectionString = db.connectionString!;
      await centralScenario(dir, async () => {
        const customer = postgresLedger({ connectionString });
        cleanup.push(() => customer.close());
        return { config: { type: "postgres", connectionString }, customer, reader: customer };
      });
    },
    240_000,
  );
});

if (!process.env.DATABASE_URL) {
  console.info(
    "[gateway-central-pg] DATABASE_URL is not set: the `ledger: {type: postgres}` run needs a PostgreSQL server (the http run used the service's embedded ledger)",
  );
}
