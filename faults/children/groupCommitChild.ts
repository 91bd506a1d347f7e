// Child of the group-commit power-loss scenario: submits signed meter records to an embedded
// ledger ONE PER submitRecords CALL, with many calls in flight at once (so the ledger commits
// them in groups), as fast as it can. After each call resolves it prints
// "R <seq> <walBytes>": the record now acknowledged and the size of the ledger's WAL file at
// that instant. stdout to a pipe is written synchronously.
import { statSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  buildMeterRecord,
  dec,
  genesisChainState,
  type MeterRecord,
  nextChainState,
  signMeterRecord,
} from "@maaskit/metering";
import { embeddedLedger, openAgreementWithConsent, parseAgreement } from "@maaskit/settlement";
import { Wallet } from "ethers";
import { powerLossAgreement } from "../lib/powerLoss.js";

/** The machine key of `powerLossAgreement` (its signer, key 3; a test key, never for anything real). */
const SIGNER_KEY = `0x${(3).toString(16).padStart(64, "0")}`;

const [dir] = process.argv.slice(2) as [string];
const IN_FLIGHT = 24;
const QUARTER_HOUR = 15 * 60_000;
const say = (line: string) => writeSync(1, `${line}\n`);
const db = join(dir, "ledger", "ledger.db");
const walSize = () => {
  try {
    return statSync(`${db}-wal`).size;
  } catch {
    return 0;
  }
};

const ledger = embeddedLedger({ dir: join(dir, "ledger") });
const agreement = parseAgreement(powerLossAgreement());
const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
const signer = new Wallet(SIGNER_KEY);
const start = Date.parse(agreement.start.toISOString());
let chain = genesisChainState();
let register = dec(1000);

/** The next `n` records of the chain (15-minute windows from the agreement's start). */
async function sign(n: number): Promise<MeterRecord[]> {
  const out: MeterRecord[] = [];
  for (let k = 0; k < n; k++) {
    const i = chain.seq;
    const volume = dec(100 + (i % 17)).div(10);
    const unsigned = buildMeterRecord(
      {
        kind: "window",
        machineId: agreement.machineId,
        start: new Date(start + i * QUARTER_HOUR),
        end: new Date(start + (i + 1) * QUARTER_HOUR),
        usage: [
          {
            channel: "air",
            quantity: { value: volume, unit: "MTQ", basis: "ISO1217-FAD" },
            register: { start: register, end: register.plus(volume) },
            flags: {},
          },
        ],
        gaps: [],
        quarantined: 0,
      },
      {
        binding: { agreementId: agreement.agreementId, ...recordDomain },
        chain,
        clock: "synchronised",
        channel: "air",
      },
    );
    register = register.plus(volume);
    const record = await signMeterRecord(unsigned, { signer });
    out.push(record);
    chain = nextChainState(record);
  }
  return out;
}

// The agreement (offered and accepted) is acknowledged too: its WAL bytes are synced.
say(`ready ${walSize()}`);
for (;;) {
  const records = await sign(IN_FLIGHT * 2);
  let next = 0;
  // IN_FLIGHT callers, each issuing its next single-record call once its previous one resolved.
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < records.length) {
        const record = records[next++]!;
        const r = await ledger.submitRecords({
          agreementId: agreement.agreementId,
          records: [record],
        });
        if (r.accepted !== 1) throw new Error(`seq ${record.seq}: ${JSON.stringify(r.results)}`);
        say(`R ${record.seq} ${walSize()}`);
      }
    }),
  );
}
