import { describe, it } from "vitest";
import { runFleetLoad } from "./loadScenario.js";

describe("ledger service under load: 50 gateways, duplicates and retries", () => {
  it("behavior: every record accepted exactly once, every period settled once, totals exact", async () => {
    await runFleetLoad("load", { gateways: 50, records: 24, batch: 4 });
  }, 180_000);
});
