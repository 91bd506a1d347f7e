import type { LedgerBackend, LedgerEvent } from "@maaskit/settlement";
import type { Caller } from "./auth.js";

/**
 * Which events a caller may read: operators all; a party those of the agreements and work
 * orders it is a party of; a relayer none. Parties of an agreement or work order never
 * change, so they are looked up once.
 */
export class EventFilter {
  private readonly parties = new Map<string, readonly string[]>();

  constructor(private readonly backend: LedgerBackend) {}

  async visible(caller: Caller, events: readonly LedgerEvent[]): Promise<LedgerEvent[]> {
    if (caller.role === "operator") return events.slice();
    if (caller.role !== "party") return [];
    const me = caller.address.toLowerCase();
    const out: LedgerEvent[] = [];
    for (const e of events) {
      const parties = await this.partiesOf(e);
      if (parties.includes(me)) out.push(e);
    }
    return out;
  }

  private async partiesOf(e: LedgerEvent): Promise<readonly string[]> {
    const key =
      "agreementId" in e ? `a:${e.agreementId}` : `w:${(e as { workOrderId: string }).workOrderId}`;
    const known = this.parties.get(key);
    if (known !== undefined) return known;
    let found: string[];
    try {
      if ("agreementId" in e) {
        const { agreement } = await this.backend.getAgreement(e.agreementId);
        found = [agreement.parties.provider, agreement.parties.customer];
      } else {
        const w = await this.backend.getWorkOrder((e as { workOrderId: string }).workOrderId);
        found = [w.customer, w.provider, w.arbiter, ...(w.funder === undefined ? [] : [w.funder])];
      }
    } catch {
      return [];
    }
    const lower = found.map((a) => a.toLowerCase());
    this.parties.set(key, lower);
    return lower;
  }
}
