import { type LogEntry, type LogVerificationResult, verifyLogEntries } from "@maaskit/metering";

/** What {@link readMaintenanceHistory} found. */
export interface MaintenanceHistoryReading {
  /** True when there was at least one entry and every entry verified. */
  readonly valid: boolean;
  /** One verdict per non-blank line (seq and reasons); a line that is not JSON has no seq. */
  readonly verdicts: readonly (LogVerificationResult & { readonly line: number })[];
  /** The entries, in file order (trust them only when `valid`). */
  readonly entries: readonly LogEntry[];
}

/**
 * Reads a machine's maintenance history export (the JSON Lines `exportTo` writes) and
 * verifies every entry: hash chain, signatures and that it is this machine's log
 * (`maintenance/<machineId>`). Nothing is thrown for a bad line: each gets its verdict
 * (`metering.log.malformed` when it is not JSON), so a buyer of a used machine sees every
 * problem at once. With `signers`, only those keys may have signed.
 *
 * @example
 * ```ts
 * const h = readMaintenanceHistory(await readFile("history.jsonl", "utf8"), { machineId: "c1" });
 * if (h.valid) checkWarranty(h.entries, required, { commissioned, now });
 * ```
 */
export function readMaintenanceHistory(
  text: string,
  options: { readonly machineId: string; readonly signers?: readonly string[] },
): MaintenanceHistoryReading {
  const lines: { line: number; json: unknown }[] = [];
  const verdicts: (LogVerificationResult & { line: number })[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    try {
      lines.push({ line: i + 1, json: JSON.parse(raw) });
    } catch {
      verdicts.push({
        line: i + 1,
        seq: undefined,
        valid: false,
        reasons: [{ code: "metering.log.malformed", message: "not JSON" }],
      });
    }
  });
  const results = verifyLogEntries(
    lines.map((l) => l.json),
    {
      logId: `maintenance/${options.machineId}`,
      ...(options.signers === undefined ? {} : { signers: options.signers }),
    },
  );
  for (const [i, r] of results.entries()) verdicts.push({ ...r, line: lines[i]!.line });
  verdicts.sort((a, b) => a.line - b.line);
  const entries = lines.map((l) => l.json as LogEntry);
  const valid = verdicts.length > 0 && verdicts.every((v) => v.valid);
  return { valid, verdicts, entries };
}
