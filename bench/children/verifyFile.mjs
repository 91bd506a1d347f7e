// A child of the verify bench: `maaskit verify` of one file as the CLI does it — the file
// streamed from disk (1 MiB chunks) through verifyExportStream in one pass, the expected
// signer and agreement given — then prints { ms, lines, invalid, exitCode, maxRssKiB,
// tenthRssKiB } as one JSON line: the process's resident-memory high-water mark (imports
// included) at the end and after the first tenth of the file's lines (given as the 4th
// argument): memory that grew with the file would show as the difference.
import { createReadStream } from "node:fs";
import { verifyExportStream, ZERO_ADDRESS } from "@maaskit/metering";

const [file, signer, agreementId, expected] = process.argv.slice(2);
const tenth = Math.ceil(Number(expected) / 10);
let seen = 0;
let tenthRssKiB = 0;
const t = performance.now();
const s = await verifyExportStream(createReadStream(file, { highWaterMark: 1 << 20 }), {
  signers: [signer],
  agreement: { agreementId, chainId: 0, verifyingContract: ZERO_ADDRESS },
  onVerdict: () => {
    if (++seen === tenth) tenthRssKiB = process.resourceUsage().maxRSS;
  },
});
const ms = performance.now() - t;
process.stdout.write(
  `${JSON.stringify({
    ms,
    lines: s.lines,
    invalid: s.invalidLines,
    exitCode: s.exitCode,
    maxRssKiB: process.resourceUsage().maxRSS,
    tenthRssKiB,
  })}\n`,
);
