import type { GapEvent, GapReason, MeterEvent, Reading } from "../reading.js";
import { eventTime } from "./opcUaConversion.js";

// fromOpcUa's gap logic, without a server (split from fromOpcUa.ts; unit-tested in
// opcUaGaps.test.ts): the events go out in order, notifications that arrive while a lost
// connection is being repaired wait in a bounded buffer, and the gap of a reconnect is
// announced before the first reading after it.

export interface OpcUaGapOptions {
  readonly machineId: string;
  readonly endpointUrl: string;
  /** Notifications kept while a connection is repaired; beyond, a `source.overflow` gap. */
  readonly maxHeld: number;
  /** Where the events go (the stream's subscriber). */
  readonly next: (e: MeterEvent) => void;
}

/** What the notifications past {@link OpcUaGapOptions.maxHeld} covered. */
interface Overflow {
  count: number;
  first: number;
  last: number;
}

export interface OpcUaGaps {
  /** One event from the subscription (held while a repair is under way). */
  emit(e: MeterEvent): void;
  /** The connection was lost: hold notifications until {@link resume} or {@link bridge}. */
  hold(): void;
  /** Whether notifications are being held (a repair is pending). */
  readonly holding: boolean;
  /**
   * The session and subscription survived: the held notifications go out in sourceTime
   * order, and `reason`'s gap is announced before the first reading.
   */
  resume(reason: GapReason): void;
  /**
   * The subscription was recreated: the re-read registers and the held notifications go out
   * in sourceTime order after a gap from the last reading seen to the first one after.
   */
  bridge(reason: GapReason, reread: readonly MeterEvent[], bridgedByRegister: boolean): void;
}

/** The gap state of one fromOpcUa stream. */
export function opcUaGaps(options: OpcUaGapOptions): OpcUaGaps {
  const { machineId, endpointUrl, maxHeld, next } = options;
  // newest sourceTime emitted (ms, and its Date): where a gap starts
  let lastMs = Number.NEGATIVE_INFINITY;
  let lastSourceTime: Date | undefined;
  let held: MeterEvent[] | undefined;
  let overflow: Overflow | undefined;
  // a gap to announce before the next reading (reconnects where the subscription survived)
  let pendingGap: { reason: GapReason; start: Date } | undefined;

  const announce = (r: Reading): void => {
    const { reason, start } = pendingGap!;
    pendingGap = undefined;
    next({
      kind: "gap",
      machineId,
      start,
      end: r.sourceTime,
      reason,
      detail: `OPC UA connection to ${endpointUrl} was interrupted; the subscription survived and its queued notifications follow`,
    });
  };

  const keep = (e: MeterEvent): void => {
    if (held!.length < maxHeld) {
      held!.push(e);
      return;
    }
    const t = eventTime(e);
    if (overflow === undefined) overflow = { count: 1, first: t, last: t };
    else {
      overflow.count++;
      if (t < overflow.first) overflow.first = t;
      if (t > overflow.last) overflow.last = t;
    }
  };

  const emit = (e: MeterEvent): void => {
    if (held !== undefined) {
      keep(e);
      return;
    }
    if (e.kind === "reading") {
      if (pendingGap !== undefined) announce(e);
      const t = e.sourceTime.getTime();
      if (t > lastMs) {
        lastMs = t;
        lastSourceTime = e.sourceTime;
      }
    }
    next(e);
  };

  // the notifications not kept, as a gap after those that were (never a silent loss)
  const flushOverflow = (): void => {
    const o = overflow;
    overflow = undefined;
    if (o === undefined) return;
    const overflowGap: GapEvent = {
      kind: "gap",
      machineId,
      start: new Date(o.first),
      end: new Date(o.last),
      reason: "source.overflow",
      detail: `${o.count} OPC UA notification(s) from ${endpointUrl} arrived while the connection was being repaired, beyond the ${maxHeld} held (maxHeldNotifications); they were not kept`,
    };
    next(overflowGap);
  };

  const release = (): MeterEvent[] => {
    const out = held ?? [];
    held = undefined;
    return out;
  };

  return {
    emit,
    hold: () => {
      held ??= [];
    },
    get holding() {
      return held !== undefined;
    },
    resume(reason) {
      // The server queued what changed meanwhile and delivers it now (older sourceTimes
      // first). Re-reading the registers would put a newer value ahead of those queued
      // notifications, so the gap is announced at the next reading instead.
      const pending = release().sort((a, b) => eventTime(a) - eventTime(b));
      if (lastSourceTime !== undefined) pendingGap = { reason, start: lastSourceTime };
      for (const e of pending) emit(e);
      flushOverflow();
    },
    bridge(reason, reread, bridgedByRegister) {
      const after = [...reread, ...release()].sort((a, b) => eventTime(a) - eventTime(b));
      // this gap covers any earlier one still waiting for a reading
      pendingGap = undefined;
      const firstAfter = after.find((e): e is Reading => e.kind === "reading");
      if (lastSourceTime !== undefined && firstAfter !== undefined) {
        next({
          kind: "gap",
          machineId,
          start: lastSourceTime,
          end: firstAfter.sourceTime,
          reason,
          ...(bridgedByRegister ? { bridgedBy: "register" as const } : {}),
          detail: `OPC UA connection to ${endpointUrl} was interrupted; registers re-read after the reconnect`,
        });
      }
      for (const e of after) emit(e);
      flushOverflow();
    },
  };
}
