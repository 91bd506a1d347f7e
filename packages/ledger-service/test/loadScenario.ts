import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeterRecord } from "@maaskit/metering";
import {
  embeddedLedger,
  invoiceToJson,
  isLedgerError,
  type LedgerBackend,
} from "@maaskit/settlement";
import { scenarioClock } from "@maaskit/settlement/conformance";
import { type HttpLedger, httpLedger } from "@maaskit/settlement/http";
import { expect } from "vitest";
import {
  fleetDay,
  fleetGateway,
  fleetRecords,
  openFleetAgreement,
  seeded,
  untilDelivered,
} from "./fleet.js";
import { OPERATOR_TOKEN, startService } from "./serverHarness.js";

/** The size of one load run. */
export interface LoadSize {
  readonly gateways: number;
  readonly records: number;
  readonly batch: number;
}

/**
 * `gateways` simulated gateways (each its own agreement and key) deliver their records
 * concurrently through one ledger service into `backend` (default: an embedded ledger), with
 * duplicates (a previous batch resent in front), lost responses (the same batch delivered
 * again) and a settling retry each; then checks that every record was accepted exactly once,
 * every period settled once, and the invoices and balances equal those of the same records
 * fed once, in order, into an embedded reference ledger.
 */
export async function runFleetLoad(
  label: string,
  size: LoadSize,
  backend?: (clock: ReturnType<typeof scenarioClock>) => LedgerBackend & { ready: Promise<void> },
): Promise<void> {
  const { gateways: GATEWAYS, records: RECORDS, batch: BATCH } = size;
  const clock = scenarioClock("2025-01-03T00:00:00Z");
  const gateways = Array.from({ length: GATEWAYS }, (_, i) => fleetGateway(label, i));
  const token = (i: number) => `gateway-${i}-token-0123456789abcdef`;
  const service = await startService({
    clock,
    tokens: gateways.map((g) => ({ name: `gw${g.index}`, token: token(g.index), role: "relayer" })),
    limits: { ratePerSecond: 10_000 },
    ...(backend === undefined ? {} : { backend: backend(clock) }),
  });
  const refDir = await mkdtemp(join(tmpdir(), "ledger-ref-"));
  const operator = httpLedger({ url: service.url, auth: OPERATOR_TOKEN });
  try {
    const records: MeterRecord[][] = [];
    for (const g of gateways) {
      const domain = await openFleetAgreement(operator, g);
      records.push(await fleetRecords(g, domain, RECORDS));
    }
    const random = seeded(20_251_203);
    const plans = gateways.map(() => ({ dupes: random() }));
    let accepted = 0;
    let duplicates = 0;
    let refusedResettle = 0;
    await Promise.all(
      gateways.map(async (g, i) => {
        const ledger: HttpLedger = httpLedger({ url: service.url, auth: token(i) });
        const rnd = seeded(1000 + i);
        const mine = records[i] as MeterRecord[];
        for (let from = 0; from < mine.length; from += BATCH) {
          // a duplicate: the previous batch again in front (a resend after a timeout)
          const start =
            from > 0 && rnd() < 0.3 + 0.2 * (plans[i]?.dupes ?? 0) ? from - BATCH : from;
          const batch = mine.slice(start, from + BATCH);
          const send = () =>
            untilDelivered(() =>
              ledger.submitRecords({ agreementId: g.agreement.agreementId, records: batch }),
            );
          const out = await send();
          accepted += out.accepted;
          duplicates += out.duplicates;
          // a lost response: the gateway did not hear back and delivers the same batch again
          if (rnd() < 0.2) {
            const again = await send();
            expect(again.accepted).toBe(0);
            duplicates += again.duplicates;
          }
        }
        await untilDelivered(() =>
          ledger.settlePeriod({ agreementId: g.agreement.agreementId, period: fleetDay(0) }),
        );
        // the settling gateway retries too: the period is settled already, nothing doubles
        await ledger
          .settlePeriod({ agreementId: g.agreement.agreementId, period: fleetDay(0) })
          .catch((err) => {
            if (isLedgerError(err, "settlement.period.alreadySettled")) refusedResettle++;
            else throw err;
          });
        await ledger.close();
      }),
    );
    expect(accepted).toBe(GATEWAYS * RECORDS);
    expect(duplicates).toBeGreaterThan(GATEWAYS);
    expect(refusedResettle).toBe(GATEWAYS);

    const events = await operator.getEvents();
    const acceptedEvents = events.filter((e) => e.type === "RecordAccepted");
    expect(acceptedEvents).toHaveLength(GATEWAYS * RECORDS);
    const keys = new Set(acceptedEvents.map((e) => `${e.agreementId}/${e.seq}`));
    expect(keys.size).toBe(GATEWAYS * RECORDS);
    expect(events.filter((e) => e.type === "PeriodSettled")).toHaveLength(GATEWAYS);

    // the same records straight into an embedded ledger, once each, in order: same invoices
    const ref = embeddedLedger({ dir: refDir, clock });
    for (const [i, g] of gateways.entries()) {
      await openFleetAgreement(ref, g);
      await ref.submitRecords({
        agreementId: g.agreement.agreementId,
        records: records[i] as MeterRecord[],
      });
      const expected = await ref.settlePeriod({
        agreementId: g.agreement.agreementId,
        period: fleetDay(0),
      });
      const got = await operator.getInvoices(g.agreement.agreementId);
      expect(got.map((inv) => JSON.stringify(invoiceToJson(inv)))).toEqual([
        JSON.stringify(invoiceToJson(expected)),
      ]);
      const [a, b] = [
        await operator.getBalance(g.agreement.agreementId),
        await ref.getBalance(g.agreement.agreementId),
      ];
      expect([a.available.toFixed(), a.due.toFixed(), a.paidToProvider.toFixed()]).toEqual([
        b.available.toFixed(),
        b.due.toFixed(),
        b.paidToProvider.toFixed(),
      ]);
    }
    await ref.close();
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toContain(`maaskit_ledger_records_accepted_total ${GATEWAYS * RECORDS}`);
  } finally {
    await operator.close();
    await service.stop();
    await rm(refDir, { recursive: true, force: true });
  }
}
