import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { meterRecordCodec, openJournal } from "@maaskit/metering";
import { embeddedLedger } from "@maaskit/settlement";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditPlant, digests, type VolumeSeen } from "../lib/auditPlant.js";
import { bundleChild } from "../lib/bundleChild.js";
import { type ChildEvent, spawnGateway } from "../lib/gatewayProcess.js";
import { type Plant, startPlant } from "../lib/plant.js";

// A real full disk, not an injected error: the gateway runs under `prlimit --fsize` (RLIMIT_FSIZE),
// so the kernel fails its writes part-way (EFBIG after a short write), as a disk filling up
// mid-entry does. The journal's and the embedded ledger's SQLite WAL files grow side by side
// (whole 4 KiB pages per commit); whichever hits the limit first fails (SQLite reports the
// short write as SQLITE_FULL or SQLITE_IOERR_WRITE). Then space returns (a run without the limit).
const LIMIT = 400_000;
const ACCELERATE = 3600;
const T0 = new Date("2025-03-03T00:00:00.000Z");

let script: string;
let dir: string;
let plant: Plant;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/gatewayChild.ts"),
    "gatewayChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-disk-"));
  plant = await startPlant({
    dir,
    simStart: new Date(T0.getTime() - 4 * 3_600_000),
    agreementStart: T0,
    accelerate: ACCELERATE,
  });
});
afterAll(async () => {
  await plant?.server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const volumesOf = (events: readonly ChildEvent[]): VolumeSeen[] =>
  events.filter((e) => e.event === "volume").map((e) => ({ t: e.t as number, v: e.v as string }));

describe("disk full", () => {
  test("error: a full disk stops the gateway with metering.journal.writeFailed, nothing durable is corrupted, and it resumes exactly once space returns", async () => {
    const started = Date.now();
    const full = spawnGateway(
      script,
      [
        "--config",
        plant.configFile,
        "--until",
        new Date(T0.getTime() + 48 * 3_600_000).toISOString(),
      ],
      { wrapper: ["prlimit", `--fsize=${LIMIT}:unlimited`] },
    );
    // The gateway stops by itself: a journal that cannot be written takes no more work.
    const stopped = await full.exited;
    const error = full.events.find((e) => e.event === "metering.error");
    expect(
      error,
      JSON.stringify(full.events.filter((e) => e.event !== "volume").slice(-8)),
    ).toMatchObject({
      code: "metering.journal.writeFailed",
    });
    expect(String(error!.error)).toMatch(/EFBIG|too large|disk is full|disk I\/O error/i);
    const ledgerRetries = full.events.filter(
      (e) =>
        e.event === "delivery.retrying" &&
        /settlement\.ledger\.unavailable|EFBIG|disk/.test(String(e.detail)),
    );
    const reported = full.events.filter((e) => e.event === "record");
    // No record was reported after the failure: the window that failed was not handed on.
    const errorAt = full.events.indexOf(error!);
    expect(full.events.slice(errorAt).some((e) => e.event === "record")).toBe(false);

    // Nothing corrupted: the journal opens clean (SQLite rolled the failed commit back),
    // holds every record reported durable, and its chain verifies; the ledger holds a prefix
    // of the journal and has nothing to recover.
    const journal = await openJournal({ dir: plant.journalDir, codec: meterRecordCodec });
    const records = [];
    try {
      expect(journal.recovery).toEqual({});
      for await (const r of journal.read(0)) records.push(r);
    } finally {
      await journal.close();
    }
    const hashes = digests(records);
    for (const e of reported) expect(hashes[e.seq as number]).toBe(e.hash);
    const ledger = embeddedLedger({ dir: plant.ledgerDir });
    let torn: number;
    try {
      await ledger.ready;
      torn = ledger.recoveredBytes();
      const head = await ledger.getRecordsHead(plant.agreement.agreementId);
      expect(head.nextSeq).toBeLessThanOrEqual(records.length);
      if (head.nextSeq > 0) expect(head.headHash).toBe(hashes[head.nextSeq - 1]);
    } finally {
      await ledger.close();
    }

    // Space returns: the gateway starts again without the limit and catches up.
    const until = new Date(plant.server.model.time.getTime() + 6 * 3_600_000);
    const again = spawnGateway(script, [
      "--config",
      plant.configFile,
      "--until",
      until.toISOString(),
    ]);
    const status = await again.exited;
    expect(status, again.stderr().slice(-3000)).toEqual({ code: 0, signal: null });
    expect(again.events.some((e) => e.event === "metering.error")).toBe(false);

    const audit = await auditPlant(plant, [...volumesOf(full.events), ...volumesOf(again.events)]);
    console.info(
      `disk full: limit ${LIMIT} B, first run exit ${JSON.stringify(stopped)} after ${reported.length} records, ` +
        `${ledgerRetries.length} ledger retries, ledger torn tail ${torn} B cut at reopen; after space returned ` +
        `${audit.records.length} records, billed ${audit.billed.toFixed()} m³ = ground truth ` +
        `${audit.groundTruth.toFixed()} m³, ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(audit.billed.toFixed()).toBe(audit.groundTruth.toFixed());
    expect(audit.verification.valid).toBe(true);
    expect(audit.cli.code, audit.cli.out.slice(-2000)).toBe(0);
    expect(audit.accepted!.map((a) => a.seq)).toEqual(audit.records.map((r) => r.seq));
    expect(audit.accepted!.map((a) => a.recordHash)).toEqual(digests(audit.records));
    expect(audit.journal.ackedThrough).toBe(audit.records.length - 1);
    expect(digests(audit.records).slice(0, hashes.length)).toEqual(hashes);
  });
});
