// Child of the power-loss scenario: writes to an embedded ledger (deposits) and a journal
// (chained entries) as fast as it can, and after each call resolves prints one line with
// what is now acknowledged and the size of that store's WAL file at that instant
// ("D <ref> <walBytes>", "J <seq> <walBytes>"). stdout to a pipe is written synchronously.
import { createHash } from "node:crypto";
import { statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type ChainEntry, dec, openJournal } from "@maaskit/metering";
import { embeddedLedger, openAgreementWithConsent, parseAgreement } from "@maaskit/settlement";
import { powerLossAgreement } from "../lib/powerLoss.js";

const [dir] = process.argv.slice(2) as [string];
const say = (line: string) => writeSync(1, `${line}\n`);
const walSize = (file: string) => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

const ledger = embeddedLedger({ dir: join(dir, "ledger") });
const agreement = parseAgreement(powerLossAgreement());
// Offered by the provider and accepted by the customer (idempotent on a restart): deposits
// are refused with `notActive` while the agreement is only offered.
await openAgreementWithConsent(ledger, agreement);
const journal = await openJournal({ dir: join(dir, "journal") });
say("ready");

const ledgerWal = join(dir, "ledger", "ledger.db");
const journalWal = join(dir, "journal", "journal.db");
let n = (await ledger.getBalance(agreement.agreementId)).available.toNumber();
for (;;) {
  // Two deposits and two journal appends in flight at once: they share commits.
  const refs = [`d-${n}`, `d-${n + 1}`];
  n += 2;
  const deposits = refs.map((reference) =>
    ledger
      .deposit({
        agreementId: agreement.agreementId,
        amount: dec("1"),
        by: agreement.parties.customer,
        reference,
      })
      .then(() => {
        say(`D ${reference} ${walSize(ledgerWal)}`);
      }),
  );
  const appends: Promise<void>[] = [];
  for (let i = 0; i < 2; i++) {
    const { nextSeq, head } = journal.state();
    const e = entry(nextSeq + i, i === 0 ? head : entry(nextSeq, head).hash);
    appends.push(
      journal.append(e).then(() => {
        say(`J ${e.seq} ${walSize(journalWal)}`);
      }),
    );
  }
  await Promise.all([...deposits, ...appends]);
}

function entry(seq: number, prevHash: string): ChainEntry {
  const body = { seq, prevHash, pad: `${seq}`.padEnd(300, "x") };
  return { ...body, hash: `0x${createHash("sha256").update(JSON.stringify(body)).digest("hex")}` };
}
