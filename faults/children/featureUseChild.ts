// Child of the feature-use kill scenario: a machine that uses a prepaid feature as fast as it
// can. Each use goes through the gate (check, sign the use's record, commit the budget
// decrement and the record in one transaction) and only then "acts": it appends
// "<seq>\n" to acts.log (the feature doing its work). The harness SIGKILLs it at random
// instants, restarts it, and checks afterwards that no act is without its counted use.
//
//   node featureUseChild.mjs <dir>     (<dir>/grant.json, <dir>/machine.key, <dir>/setup.json)
import { openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { entitlementGrantFromJson, openFeatureGate } from "@maaskit/metering/entitlements";
import { Wallet } from "ethers";

const [dir] = process.argv.slice(2) as [string];
const setup = JSON.parse(readFileSync(join(dir, "setup.json"), "utf8")) as {
  issuer: string;
  machineId: string;
  binding: { agreementId: string; chainId: number; verifyingContract: string };
};
const grant = entitlementGrantFromJson(JSON.parse(readFileSync(join(dir, "grant.json"), "utf8")));
const gate = await openFeatureGate({
  file: join(dir, "features.db"),
  issuer: setup.issuer,
  machineId: setup.machineId,
  signer: new Wallet(readFileSync(join(dir, "machine.key"), "utf8").trim()),
  features: { boost: setup.binding },
  clock: () => "synchronised",
});
gate.sync({ grants: [grant] });
const acts = openSync(join(dir, "acts.log"), "a");
writeSync(1, "ready\n");
for (;;) {
  const use = await gate.useFeature("boost");
  if (!use.allowed) {
    writeSync(1, `denied ${use.reason}\n`);
    break;
  }
  // the feature acts only now, after its use is durable (and takes a moment: a kill in it
  // leaves a use counted and not acted, the safe direction)
  await new Promise((r) => setTimeout(r, 2));
  writeSync(acts, `${use.record!.seq}\n`);
}
gate.close();
