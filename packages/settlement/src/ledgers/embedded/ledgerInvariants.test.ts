import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  ledgerActions,
  ledgerInvariantViolations,
  runLedgerActions,
} from "../../conformance/ledgerInvariants.js";
import { scenarioClock } from "../../conformance/ledgerScenario.js";
import { embeddedLedger } from "./embeddedLedger.js";

describe("embedded ledger invariants under random calls by provider, customer, stranger and relayer", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const ready = mkdtemp(join(tmpdir(), "maaskit-invariants-")).then((dir) =>
    embeddedLedger({ dir, clock }),
  );
  afterAll(async () => (await ready).close());
  let run = 0;

  it("behavior: paid in = paid out + held; periods settle in order, none skipped; each accepted record settles once", async () => {
    const ledger = await ready;
    await fc.assert(
      fc.asyncProperty(ledgerActions, async (actions) => {
        const result = await runLedgerActions(ledger, clock, `invariants/${run++}`, actions);
        expect(ledgerInvariantViolations(result)).toEqual([]);
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
