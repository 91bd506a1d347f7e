/** Sparkplug B message types carried in the topic (Sparkplug 3.0 §4.1). */
export type SparkplugMessageType =
  | "NBIRTH"
  | "NDEATH"
  | "DBIRTH"
  | "DDEATH"
  | "NDATA"
  | "DDATA"
  | "NCMD"
  | "DCMD";

const TYPES: ReadonlySet<string> = new Set([
  "NBIRTH",
  "NDEATH",
  "DBIRTH",
  "DDEATH",
  "NDATA",
  "DDATA",
  "NCMD",
  "DCMD",
]);

export const NAMESPACE = "spBv1.0";

/** A topic, parsed before any payload is looked at: STATE is never fed to protobuf. */
export type ParsedTopic =
  | {
      readonly kind: "sparkplug";
      readonly groupId: string;
      readonly type: SparkplugMessageType;
      readonly edgeNodeId: string;
      readonly deviceId?: string;
    }
  | { readonly kind: "state"; readonly hostId: string; readonly version: "3.0" | "2.2" }
  | { readonly kind: "other" };

/** Parses `spBv1.0/{group}/{type}/{edge}[/{device}]`, `spBv1.0/STATE/{host}` and 2.2's `STATE/{host}`. */
export function parseTopic(topic: string): ParsedTopic {
  const parts = topic.split("/");
  if (parts[0] === NAMESPACE) {
    if (parts[1] === "STATE" && parts.length === 3 && parts[2] !== "") {
      return { kind: "state", hostId: parts[2]!, version: "3.0" };
    }
    if ((parts.length === 4 || parts.length === 5) && TYPES.has(parts[2]!)) {
      const type = parts[2] as SparkplugMessageType;
      const device = type[0] === "D";
      if (device !== (parts.length === 5)) return { kind: "other" };
      return {
        kind: "sparkplug",
        groupId: parts[1]!,
        type,
        edgeNodeId: parts[3]!,
        ...(device ? { deviceId: parts[4]! } : {}),
      };
    }
    return { kind: "other" };
  }
  if (parts[0] === "STATE" && parts.length === 2 && parts[1] !== "") {
    return { kind: "state", hostId: parts[1]!, version: "2.2" };
  }
  return { kind: "other" };
}

/** The topic of a Sparkplug message. */
export function sparkplugTopic(
  groupId: string,
  type: SparkplugMessageType,
  edgeNodeId: string,
  deviceId?: string,
): string {
  return `${NAMESPACE}/${groupId}/${type}/${edgeNodeId}${deviceId === undefined ? "" : `/${deviceId}`}`;
}

/** The Sparkplug 3.0 STATE topic of a host application. */
export function stateTopic(hostId: string): string {
  return `${NAMESPACE}/STATE/${hostId}`;
}

/** A host application's STATE, as published (3.0 JSON) or as read (3.0 JSON or 2.2 text). */
export interface HostState {
  readonly online: boolean;
  /** ms since the epoch (3.0 only). */
  readonly timestamp?: number;
  readonly version: "3.0" | "2.2";
}

/** The 3.0 STATE payload: UTF-8 JSON `{"online":…,"timestamp":…}`. */
export function statePayload(online: boolean, timestamp: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ online, timestamp }));
}

/**
 * Reads a STATE payload: 3.0 JSON with a boolean `online` and a numeric `timestamp`, or (2.2
 * interop) the plain text `ONLINE` / `OFFLINE`. Anything else is `undefined`.
 */
export function parseStatePayload(bytes: Uint8Array): HostState | undefined {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes).trim();
  } catch {
    return undefined;
  }
  if (text === "ONLINE" || text === "OFFLINE") return { online: text === "ONLINE", version: "2.2" };
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== "object" || v === null) return undefined;
    const { online, timestamp } = v as { online?: unknown; timestamp?: unknown };
    if (typeof online !== "boolean" || typeof timestamp !== "number") return undefined;
    if (!Number.isSafeInteger(timestamp)) return undefined;
    return { online, timestamp, version: "3.0" };
  } catch {
    return undefined;
  }
}
