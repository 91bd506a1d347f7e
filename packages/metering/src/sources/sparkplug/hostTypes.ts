import type { ReadingValue } from "../../reading.js";
import type { SparkplugPayload, ValueProblem } from "./values.js";

/** Options of {@link createSparkplugHost}. */
export interface SparkplugHostOptions {
  /** This host application's id (unique in the infrastructure; its STATE topic). */
  readonly hostId: string;
  readonly groupId: string;
  readonly edgeNodeId: string;
  /** Only this device's metrics (and the node's); default: the node and every device. */
  readonly deviceId?: string;
  /** How long a seq gap may wait for the missing messages (ms). Default 2000. */
  readonly reorderTimeoutMs?: number;
  /** At most one rebirth request per edge node within this many ms. Default 10000. */
  readonly rebirthCooldownMs?: number;
  /**
   * Send rebirth requests (NCMD `Node Control/Rebirth` = true). Default true. With false the
   * host only listens (a secondary host): a seq gap that times out is bridged from the registers.
   */
  readonly requestRebirths?: boolean;
  /** Protobuf decoder of Sparkplug B payloads. */
  readonly decode: (bytes: Uint8Array) => SparkplugPayload;
  /** Encodes the rebirth request's payload (an NCMD with `Node Control/Rebirth` = true). */
  readonly encodeRebirth: (timestamp: number) => Uint8Array;
}

/** Why a session's continuity was lost. */
export type SparkplugResyncReason =
  | "sparkplug.death"
  | "sparkplug.seqGap"
  | "sparkplug.rebirth"
  | "sparkplug.unknownAlias"
  | "source.reconnected";

/** What the host state machine tells its runner to do or to emit. */
export type SparkplugHostOutput =
  | {
      readonly kind: "metric";
      readonly deviceId?: string;
      readonly name: string;
      readonly datatype: number;
      readonly value: ReadingValue | ValueProblem;
      /** ms since the epoch: the metric's timestamp, else the payload's, else receive time. */
      readonly timestamp: bigint;
      /** Property "Quality" (192 = good), when the edge sent one. */
      readonly quality?: number;
      /** Store-and-forward backfill (`is_historical`): data, but not the live value. */
      readonly historical: boolean;
      /** From a birth certificate (the full current value of every metric). */
      readonly birth: boolean;
      readonly bdSeq?: bigint;
      readonly seq?: bigint;
    }
  | {
      /** Continuity was lost before this birth: the runner emits a gap, registers bridge it. */
      readonly kind: "resync";
      readonly deviceId?: string;
      readonly reason: SparkplugResyncReason;
      /** Timestamp of the birth that restores the scope (ms). */
      readonly at: bigint;
    }
  | {
      readonly kind: "offline";
      readonly deviceId?: string;
      readonly reason: "NDEATH" | "DDEATH";
      /** Host receive time (ms): the death's own timestamp is the will's, not the death's. */
      readonly at: number;
    }
  | {
      readonly kind: "publish";
      readonly topic: string;
      readonly payload: Uint8Array;
      readonly qos: 0 | 1;
      readonly retain: boolean;
    }
  | {
      readonly kind: "hostState";
      readonly hostId: string;
      readonly online: boolean;
      readonly timestamp?: number;
      readonly version: "3.0" | "2.2";
    }
  | {
      /** A message read and deliberately not used, with why (nothing disappears silently). */
      readonly kind: "ignored";
      readonly topic: string;
      readonly reason: string;
    }
  | {
      readonly kind: "rebirthRequested";
      readonly cause: SparkplugResyncReason | "sparkplug.noSession";
      readonly at: number;
    };
