import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedLedger } from "@maaskit/settlement";
import { Subject, VirtualTimeScheduler } from "rxjs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import type { MachineProfile } from "./machineProfile.js";
import { runUntil, startTestGateway, testProfile, volume } from "./testSupport.js";

// Issue 13 through the gateway: the machine profile's register modulus and capacity reach
// counterDelta, so a reset of a wrapping register is never billed as a rollover.
const T0 = Date.parse("2025-01-01T00:00:00.000Z");
const MINUTE = 60_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-gateway-counter-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A register with modulus 1000 counting 5 m³ a minute from 500; at minute 6 it is reset (525
 * → 5: the flow went on, so the first value after the reset is not 0), then it counts and
 * wraps at 1000 as before. Delivered: 5 m³ every minute, 7,200 m³ a day.
 */
function resetAt525() {
  const out = [];
  for (let k = 0; k <= 24 * 60 + 60; k++) {
    const raw = k <= 5 ? 500 + 5 * k : 5 + 5 * (k - 6);
    out.push(volume(T0 + k * MINUTE, String(raw % 1000)));
  }
  return out;
}

async function billedDayOne(profile: MachineProfile) {
  const scheduler = new VirtualTimeScheduler();
  const { gateway, invoices, records } = await startTestGateway({
    ledger: embeddedLedger({ dir: join(dir, "ledger") }),
    dataDir: join(dir, "data"),
    scheduler,
    profile,
  });
  const source = new Subject<ReturnType<typeof volume>>();
  source.pipe(gateway.meter()).subscribe((r) => records.push(r));
  for (const r of resetAt525()) source.next(r);
  expect(await runUntil(scheduler, () => invoices.length === 1)).toBe(true);
  await gateway.stop();
  return { invoice: invoices[0]!, records };
}

describe("createGateway: the profile's counter rules", () => {
  test("adversary: modulus 1000 and a capacity of 12.5 m³/min — the reset at 525 is billed as a reset, 7,200 m³, not as a 480 m³ wrap", async () => {
    const profile: MachineProfile = {
      ...testProfile,
      channels: {
        volume: {
          ...testProfile.channels.volume!,
          rollover: "1000",
          capacity: { value: "12.5", per: "min" },
        },
      },
    };
    const { invoice, records } = await billedDayOne(profile);
    expect(invoice.usage.value.toFixed()).toBe("7200");
    const first = records.find((r) => r.periodStart.getTime() === T0)!;
    expect(first.quantity.value.toFixed()).toBe("300");
    expect(first.flags).toMatchObject({ reset: true });
    expect(first.flags).not.toHaveProperty("rollover");
  });
});
