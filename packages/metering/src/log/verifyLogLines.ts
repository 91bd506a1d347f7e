import type { ExportLine, LineVerdict, VerifyContext } from "../exportReport.js";
import { verifyLogEntries } from "./signedLog.js";

/**
 * `maaskit verify` for signed log lines (`"kind":"logEntry"`, e.g. a maintenance history):
 * each log (by `logId`) is verified as one chain in file order; `--signer` restricts the keys.
 */
export function verifyLogLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const logs = new Map<string, ExportLine[]>();
  for (const l of lines) {
    const id = typeof l.json.logId === "string" ? l.json.logId : "";
    logs.set(id, [...(logs.get(id) ?? []), l]);
  }
  const out: LineVerdict[] = [];
  for (const [logId, group] of logs) {
    const results = verifyLogEntries(
      group.map((l) => l.json),
      { ...(ctx.signers.length > 0 ? { signers: ctx.signers } : {}), ...(logId ? { logId } : {}) },
    );
    results.forEach((r, i) => {
      const json = group[i]!.json;
      out.push({
        line: group[i]!.line,
        kind: "logEntry",
        label:
          `${logId || "log"} #${r.seq ?? "?"} ${typeof json.type === "string" ? json.type : ""}`.trim(),
        ...(r.seq === undefined ? {} : { seq: r.seq }),
        valid: r.valid,
        reasons: r.reasons.map((x) => x.code),
        messages: r.reasons.map((x) => `${x.code}: ${x.message}`),
      });
    });
  }
  return out;
}
