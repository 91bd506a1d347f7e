import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeterRecord } from "@maaskit/metering";
import { afterEach, describe, expect, it } from "vitest";
import {
  scenarioAgreement,
  scenarioClock,
  scenarioRecords,
} from "../../conformance/ledgerScenario.js";
import type { SubmitRecordsResult } from "../../ledger.js";
import { openAgreementWithConsent } from "../../openAgreementWithConsent.js";
import { embeddedLedger } from "./embeddedLedger.js";

// Group commit: calls that arrive while the ledger is busy (or in the same tick) are applied
// in one synchronous pass inside ONE SQLite transaction (one fsync), in the order they were
// issued; each call still resolves only after that transaction is durable, and each call's
// rule errors are its own.

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/**
 * A clock that also says in which pass of the event loop it was read: a `setImmediate`
 * chain bumps `tick` once per loop iteration, so every command read in one synchronous
 * pass (one transaction) sees the same tick.
 */
function tickingClock(start: string) {
  const clock = scenarioClock(start);
  let tick = 0;
  let running = true;
  const bump = () => {
    tick++;
    if (running) setImmediate(bump);
  };
  setImmediate(bump);
  const seen: number[] = [];
  return {
    now: () => {
      seen.push(tick);
      return clock.now();
    },
    seen,
    stop: () => {
      running = false;
    },
  };
}

async function setup(label: string, verifyThreads?: number) {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-group-"));
  dirs.push(dir);
  const clock = tickingClock("2025-01-01T00:00:00Z");
  const ledger = embeddedLedger({
    dir,
    clock,
    ...(verifyThreads === undefined ? {} : { verifyThreads }),
  });
  // Signature checks on loaded worker threads before the rules (not in the rules' thread).
  if (verifyThreads !== undefined) await ledger.startVerifyThreads();
  const agreement = scenarioAgreement(`group/${label}`);
  const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
  const records = await scenarioRecords(agreement, recordDomain);
  clock.seen.length = 0;
  return { dir, clock, ledger, agreement, id: agreement.agreementId, records };
}

/**
 * Issues one single-record call per record at once: each is accepted in issue order, all in
 * one pass of the event loop (one clock read per command, one transaction). Stops the clock.
 */
async function expectOnePassInOrder({
  clock,
  ledger,
  id,
  records,
}: Pick<Awaited<ReturnType<typeof setup>>, "clock" | "ledger" | "id" | "records">) {
  const results = await Promise.all(
    records.map((r) => ledger.submitRecords({ agreementId: id, records: [r] })),
  );
  expect(results.map((r) => [r.results[0]!.seq, r.results[0]!.status])).toEqual(
    records.map((r) => [r.seq, "accepted"]),
  );
  expect(clock.seen).toHaveLength(records.length);
  expect(new Set(clock.seen).size).toBe(1);
  clock.stop();
}

/** The record with one byte of its signature's r flipped. */
function forged(record: MeterRecord): MeterRecord {
  const s = record.signature;
  const i = 10;
  const flipped = (Number.parseInt(s[i]!, 16) ^ 1).toString(16);
  return { ...record, signature: `${s.slice(0, i)}${flipped}${s.slice(i + 1)}` };
}

describe("embeddedLedger group commit", () => {
  it("behavior: single-record calls issued together are applied in one pass, in issue order, each resolved accepted; a reopen holds them all", async () => {
    const { dir, clock, ledger, id, records } = await setup("together");
    await expectOnePassInOrder({ clock, ledger, id, records });
    await ledger.close();

    const again = embeddedLedger({ dir });
    expect((await again.getRecordsHead(id)).nextSeq).toBe(records.length);
    await again.verify();
    await again.close();
  });

  it("behavior: with signatures checked on 2 worker threads first, single-record calls issued together are still applied in one pass, in issue order", async () => {
    const { clock, ledger, id, records } = await setup("threads", 2);
    await expectOnePassInOrder({ clock, ledger, id, records });
    await ledger.close();
  }, 120_000);

  it("behavior: calls issued while a group is being written join the next group, not one transaction each", async () => {
    const { clock, ledger, id, records } = await setup("waves");
    // Eight workers, each submitting its next record as soon as its previous one resolved:
    // seq order is kept because each call is issued after the one before it.
    let next = 0;
    const statuses: string[] = [];
    const worker = async (first: number) => {
      let i = first;
      for (; i < records.length; i = next++) {
        const r = await ledger.submitRecords({ agreementId: id, records: [records[i]!] });
        statuses.push(r.results[0]!.status);
      }
    };
    next = 2;
    await Promise.all([worker(0), worker(1)]);
    expect(statuses).toEqual(records.map(() => "accepted"));
    expect((await ledger.getRecordsHead(id)).nextSeq).toBe(records.length);
    // Fewer passes than commands: calls arriving together were grouped.
    expect(new Set(clock.seen).size).toBeLessThan(records.length);
    clock.stop();
    await ledger.close();
  });

  it("adversarial: in one group, a forged record, a conflicting record and a record of an unknown agreement reject only their callers; an exact resubmission is a duplicate", async () => {
    const { clock, ledger, id, records } = await setup("isolated");
    const conflicting: MeterRecord = { ...records[3]!, signature: forged(records[3]!).signature };
    const calls: Array<{ label: string; p: Promise<SubmitRecordsResult> }> = [];
    const call = (label: string, agreementId: string, r: MeterRecord) =>
      calls.push({ label, p: ledger.submitRecords({ agreementId, records: [r] }) });
    for (const r of records.slice(0, 5)) call(`seq ${r.seq}`, id, r);
    call("forged 5", id, forged(records[5]!)); // a relayer altered the signature
    call("conflict 3", id, conflicting); // a second record claiming seq 3
    call("again 2", id, records[2]!); // an at-least-once resend
    call("stranger", `0x${"77".repeat(32)}`, records[5]!); // no such agreement
    for (const r of records.slice(5)) call(`seq ${r.seq}`, id, r);
    const settled = await Promise.allSettled(calls.map((c) => c.p));
    const outcome = Object.fromEntries(
      settled.map((s, i) => [
        calls[i]!.label,
        s.status === "fulfilled"
          ? s.value.results[0]!.status
          : (s.reason as { code?: string }).code,
      ]),
    );
    expect(outcome).toEqual({
      "seq 0": "accepted",
      "seq 1": "accepted",
      "seq 2": "accepted",
      "seq 3": "accepted",
      "seq 4": "accepted",
      "forged 5": "settlement.record.badSignature",
      "conflict 3": "settlement.record.conflict",
      "again 2": "duplicate",
      stranger: "settlement.agreement.notFound",
      "seq 5": "accepted",
      "seq 6": "accepted",
      "seq 7": "accepted",
    });
    expect(new Set(clock.seen).size).toBe(1); // all of it one group
    const head = await ledger.getRecordsHead(id);
    expect(head.nextSeq).toBe(records.length);
    const accepted = (await ledger.getEvents()).filter(
      (e) => e.type === "RecordAccepted" && e.agreementId === id,
    );
    expect(accepted.map((e) => (e as { seq: number }).seq)).toEqual(records.map((r) => r.seq));
    await ledger.verify();
    clock.stop();
    await ledger.close();
  });
});
