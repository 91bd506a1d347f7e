import type { Decimal } from "decimal.js";
import { MaaskitError } from "./errors.js";
import {
  type AnchorCheck,
  bindingKey,
  type ChainSummary,
  EMPTY,
  type ExportLine,
  type InvoiceAnchor,
  type LineVerdict,
  RECORD_KIND,
  type VerifyContext,
  withReason,
} from "./exportReport.js";
import { toDecimal } from "./quantity.js";
import {
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
} from "./records/meterRecord.js";
import type { MeterRecordChainState } from "./records/meterRecordChain.js";
import {
  createMeterRecordVerifier,
  type MeterRecordCapacity,
  type MeterRecordVerifier,
} from "./records/meterRecordVerifier.js";
import type { PeriodStatement } from "./records/periodStatement.js";
import { verifyPeriodStatement } from "./records/verifyPeriodStatement.js";

/**
 * Meter record lines as a batch: each agreement's chain in file order from seq 0. `maaskit
 * verify` streams records through the same checks instead of calling this (a file of a
 * million records is not held in memory); it is here for callers that build their own
 * kind map.
 */
export function verifyRecordLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const run = new RecordRun({
    signers: ctx.signers,
    ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
    retain: false,
  });
  return lines.map((l) => run.check(l.line, l.json));
}

/** One agreement's chain as it streams by. */
interface Chain {
  readonly binding: MeterRecordBinding;
  readonly verifier: MeterRecordVerifier;
  records: number;
  firstSeq: number;
  lastSeq: number;
  head: string;
  total: Decimal;
  unit: string;
  /** Unit or basis changed between records: no total. */
  mixedUnits: boolean;
  /** Records in file order, when statements need them. */
  readonly kept: MeterRecord[];
  readonly startAnchor: ChainSummary["startAnchor"];
  /** Kept records by seq (first occurrence). */
  readonly bySeq: Map<number, MeterRecord>;
}

/**
 * Streams meter records through one incremental verifier per agreement and remembers, per
 * chain, what the anchors are checked against.
 */
export class RecordRun {
  private readonly chains = new Map<string, Chain>();
  private firstKey: string | undefined;

  constructor(
    private readonly opts: {
      signers: readonly string[];
      agreement?: MeterRecordBinding;
      retain: boolean;
      allowMultiple?: boolean;
      after?: string;
      statement?: PeriodStatement;
      invoice?: InvoiceAnchor;
      capacity?: MeterRecordCapacity;
    },
  ) {}

  /** Where the chain of the first record `r` of an agreement must start, and by what anchor. */
  private start(r: MeterRecord): [MeterRecordChainState, ChainSummary["startAnchor"]] {
    const st = this.opts.statement;
    if (st !== undefined && bindingKey(st) === bindingKey(r)) {
      return [{ seq: st.firstSeq, prevHash: st.startHash }, "statement"];
    }
    const inv = this.opts.invoice;
    if (this.opts.after !== undefined) {
      return [{ seq: inv?.firstSeq ?? r.seq, prevHash: this.opts.after }, "after"];
    }
    if (inv !== undefined && (inv.agreementId === undefined || inv.agreementId === r.agreementId)) {
      // An invoice names the first seq but not the hash before it: from seq 0 that is
      // genesis; later, only --after pins it (the output says so).
      return inv.firstSeq === 0
        ? [{ seq: 0, prevHash: GENESIS_HASH }, "genesis"]
        : [{ seq: inv.firstSeq, prevHash: r.prevHash }, "invoiceSeq"];
    }
    return [{ seq: 0, prevHash: GENESIS_HASH }, "genesis"];
  }

  check(lineNo: number, json: Record<string, unknown>): LineVerdict {
    let record: MeterRecord;
    try {
      record = meterRecordFromJson(json);
    } catch (err) {
      const e =
        err instanceof MaaskitError
          ? err
          : new MaaskitError("metering.record.malformed", String(err));
      const seq = typeof json.seq === "number" ? json.seq : undefined;
      return {
        line: lineNo,
        kind: RECORD_KIND,
        label: seq === undefined ? "record" : `seq ${seq}`,
        ...(seq === undefined ? {} : { seq }),
        valid: false,
        reasons: [e.code],
        messages: [`${e.code}: ${e.shortMessage}`],
      };
    }
    // With an expected agreement every record joins one chain, so strays are named.
    const key = this.opts.agreement === undefined ? bindingKey(record) : "expected";
    let chain = this.chains.get(key);
    if (chain === undefined) {
      const [expectedStart, startAnchor] = this.start(record);
      chain = {
        binding: this.opts.agreement ?? record,
        verifier: createMeterRecordVerifier({
          signers: this.opts.signers,
          ...(this.opts.agreement === undefined ? {} : { agreement: this.opts.agreement }),
          ...(this.opts.capacity === undefined ? {} : { capacity: this.opts.capacity }),
          expectedStart,
        }),
        startAnchor,
        records: 0,
        firstSeq: record.seq,
        lastSeq: record.seq,
        head: GENESIS_HASH,
        total: toDecimal(0),
        unit: unitOf(record),
        mixedUnits: false,
        kept: [],
        bySeq: new Map(),
      };
      this.chains.set(key, chain);
    }
    this.firstKey ??= key;
    const result = chain.verifier.check(record);
    chain.records++;
    chain.lastSeq = record.seq;
    if (result.digest !== undefined) chain.head = result.digest;
    if (unitOf(record) !== chain.unit) chain.mixedUnits = true;
    else chain.total = chain.total.plus(record.quantity.value);
    if (this.opts.retain) {
      chain.kept.push(record);
      if (!chain.bySeq.has(record.seq)) chain.bySeq.set(record.seq, record);
    }
    let verdict: LineVerdict = {
      line: lineNo,
      kind: RECORD_KIND,
      label: `seq ${record.seq}`,
      seq: record.seq,
      valid: result.valid,
      reasons: result.valid ? EMPTY : result.reasons,
      messages: result.valid ? EMPTY : result.errors.map((e) => `${e.code}: ${e.shortMessage}`),
      signer: record.signer,
      agreementId: record.agreementId,
    };
    if (key !== this.firstKey && this.opts.allowMultiple !== true) {
      const first = this.chains.get(this.firstKey)!.binding;
      verdict = withReason(
        verdict,
        "metering.cli.multipleAgreements",
        `record of agreement ${record.agreementId}, the file's first record is of ${first.agreementId}: pass --agreement, or --allow-multiple`,
      );
    }
    return verdict;
  }

  /**
   * The file's first agreement when `b` is another one and several are not allowed (and no
   * agreement is expected: then `wrongAgreement` names it), else undefined.
   */
  otherAgreementThan(b: MeterRecordBinding): MeterRecordBinding | undefined {
    if (this.opts.allowMultiple === true || this.opts.agreement !== undefined) return undefined;
    const first = this.firstKey === undefined ? undefined : this.chains.get(this.firstKey)?.binding;
    return first !== undefined && bindingKey(first) !== bindingKey(b) ? first : undefined;
  }

  /** Kept records of the statement's agreement with seq in its range, in seq order. */
  covered(st: PeriodStatement): { records: MeterRecord[]; missing: number } {
    const chain = this.chains.get(this.opts.agreement === undefined ? bindingKey(st) : "expected");
    const records: MeterRecord[] = [];
    let missing = 0;
    for (let s = st.firstSeq; s <= st.lastSeq; s++) {
      const r = chain?.bySeq.get(s);
      if (r === undefined || bindingKey(r) !== bindingKey(st)) missing++;
      else records.push(r);
    }
    return { records, missing };
  }

  private chainFor(agreementId: string | undefined): Chain | undefined {
    if (agreementId === undefined)
      return this.firstKey === undefined ? undefined : this.chains.get(this.firstKey);
    for (const c of this.chains.values()) if (c.binding.agreementId === agreementId) return c;
    return undefined;
  }

  /** Checks the anchors given beside the file against the chains. */
  finish(head: string | undefined): AnchorCheck[] {
    const out: AnchorCheck[] = [];
    const check = (anchor: AnchorCheck["anchor"], problems: [string, string][]) => {
      out.push({
        anchor,
        valid: problems.length === 0,
        reasons: [...new Set(problems.map(([c]) => c))],
        messages: problems.map(([c, m]) => `${c}: ${m}`),
      });
    };
    if (this.opts.after !== undefined) {
      // The first record's prevHash is checked by the chain's verifier (its expected start).
      check(
        "after",
        this.chainFor(this.opts.agreement?.agreementId) === undefined
          ? [["metering.cli.anchorNotMet", "the file holds no records to continue the chain"]]
          : [],
      );
    }
    if (head !== undefined) {
      const c = this.chainFor(this.opts.agreement?.agreementId);
      check(
        "head",
        c === undefined
          ? [["metering.cli.anchorNotMet", "the file holds no records"]]
          : c.head !== head
            ? [
                [
                  "metering.cli.anchorNotMet",
                  `the last record (seq ${c.lastSeq}) has digest ${c.head}, not ${head}: records are missing at the end or the file was changed`,
                ],
              ]
            : [],
      );
    }
    const st = this.opts.statement;
    if (st !== undefined) {
      const c = this.chains.get(this.opts.agreement === undefined ? bindingKey(st) : "expected");
      const problems: [string, string][] = [];
      if (c === undefined)
        problems.push([
          "metering.cli.anchorNotMet",
          `the file holds no records of agreement ${st.agreementId}`,
        ]);
      else {
        const result = verifyPeriodStatement(st, {
          signers: this.opts.signers,
          ...(this.opts.agreement === undefined ? {} : { agreement: this.opts.agreement }),
          records: c.kept,
        });
        for (const e of result.errors) problems.push([e.code, e.shortMessage]);
        const expected = st.lastSeq - st.firstSeq + 1;
        if (c.records !== expected) {
          problems.push([
            "metering.cli.anchorNotMet",
            `the statement covers ${expected} records (seq ${st.firstSeq}..${st.lastSeq}), the file holds ${c.records}`,
          ]);
        }
      }
      check("statement", problems);
    }
    const inv = this.opts.invoice;
    if (inv !== undefined) {
      const c = this.chainFor(inv.agreementId ?? this.opts.agreement?.agreementId);
      const problems: [string, string][] = [];
      const not = (m: string) => problems.push(["metering.cli.anchorNotMet", m]);
      if (c === undefined) not(`the file holds no records of agreement ${inv.agreementId ?? "?"}`);
      else {
        if (c.records !== inv.count)
          not(`the invoice covers ${inv.count} records, the file holds ${c.records}`);
        if (c.firstSeq !== inv.firstSeq || c.lastSeq !== inv.lastSeq) {
          not(
            `the invoice covers seq ${inv.firstSeq}..${inv.lastSeq}, the file holds seq ${c.firstSeq}..${c.lastSeq}`,
          );
        }
        if (inv.headHash !== undefined && inv.headHash !== c.head) {
          not(`the invoice's head hash ${inv.headHash} is not the last record's digest ${c.head}`);
        }
        const unit = `${inv.usage.unit}${inv.usage.basis === undefined ? "" : ` ${inv.usage.basis}`}`;
        if (c.mixedUnits || unit !== c.unit || !c.total.eq(inv.usage.value)) {
          not(
            `the invoice bills a usage of ${inv.usage.value.toFixed()} ${unit}, the records sum to ${c.mixedUnits ? "mixed units" : `${c.total.toFixed()} ${c.unit}`}`,
          );
        }
      }
      check("invoice", problems);
    }
    return out;
  }

  summaries(head: string | undefined): ChainSummary[] {
    const out: ChainSummary[] = [];
    for (const c of this.chains.values()) {
      const st = this.opts.statement;
      const endAnchor: ChainSummary["endAnchor"] =
        st !== undefined && bindingKey(st) === bindingKey(c.binding)
          ? "statement"
          : this.opts.invoice?.headHash !== undefined &&
              c === this.chainFor(this.opts.invoice.agreementId ?? this.opts.agreement?.agreementId)
            ? "invoice"
            : head !== undefined && c === this.chainFor(this.opts.agreement?.agreementId)
              ? "head"
              : "none";
      out.push({
        agreementId: c.binding.agreementId,
        chainId: c.binding.chainId,
        verifyingContract: c.binding.verifyingContract,
        records: c.records,
        firstSeq: c.firstSeq,
        lastSeq: c.lastSeq,
        head: c.head,
        total: c.mixedUnits ? "mixed units" : `${c.total.toFixed()} ${c.unit}`,
        endAnchor,
        startAnchor: c.startAnchor,
      });
    }
    return out;
  }
}

function unitOf(r: MeterRecord): string {
  return `${r.quantity.unit}${r.quantity.basis === undefined ? "" : ` ${r.quantity.basis}`}`;
}
