// A child of the verify bench: `maaskit verify` of one file as the CLI does it — the file
// streamed from disk (1 MiB chunks) through verifyExportStream in one pass, the expected
// signer and agreement given — then prints { ms, lines, invalid, exitCode, maxRssKiB }
// (the process's resident-memory high-water mark, imports included) as one JSON line.
import { createReadStream } from "node:fs";
import { verifyExportStream, ZERO_ADDRESS } from "@maaskit/metering";

const [file, signer, agreementId] = process.argv.slice(2);
const t = performance.now();
const s = await verifyExportStream(createReadStream(file, { highWaterMark: 1 << 20 }), {
  signers: [signer],
  agreement: { agreementId, chainId: 0, verifyingContract: ZERO_ADDRESS },
});
const ms = performance.now() - t;
process.stdout.write(
  `${JSON.stringify({
    ms,
    lines: s.lines,
    invalid: s.invalidLines,
    exitCode: s.exitCode,
    maxRssKiB: process.resourceUsage().maxRSS,
  })}\n`,
);
