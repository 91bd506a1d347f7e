import type * as AasCore from "@aas-core-works/aas-core3.0-typescript";
import { hashLogEntry, type LogEntry } from "../log/signedLog.js";
import type { AasBuilder } from "./aasElements.js";
import { MAASKIT, SERVICE_REQUEST } from "./semanticIds.js";

/** IDTA 02010 priority of a maaskit service request's priority. */
const PRIORITY: Record<string, string> = {
  low: "Low",
  medium: "Medium",
  high: "High",
  critical: "Very high",
};

/** IDTA 02010 status after a history entry of this type. */
function statusAfter(type: string): string | undefined {
  if (type === "serviceRequest") return "sent";
  if (["workOrder.opened", "workOrder.funded", "workOrder.accepted"].includes(type))
    return "in progress";
  if (
    ["workOrder.completed", "workOrder.confirmed", "workOrder.paid", "service.performed"].includes(
      type,
    )
  )
    return "completed";
  if (["workOrder.cancelled", "workOrder.expired", "workOrder.disputed"].includes(type))
    return "stopped";
  return undefined;
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The request a history entry belongs to: its own id, or the work order it moves. */
function requestOf(e: LogEntry): string | undefined {
  const p = (typeof e.payload === "object" && e.payload !== null ? e.payload : {}) as Payload;
  return e.type === "serviceRequest" ? str(p.id) : str(p.workOrderId);
}

/**
 * IDTA 02010 Service Request Notifications from a signed maintenance history: one
 * notification per service request (the `serviceRequest` entry and every entry of its work
 * order), with the history entries behind it — seq, type, time, signer and the entry's
 * EIP-712 digest — so the twin points back to the signed log. Entries of no request
 * (triggers, a history's own notes) are kept in `OtherHistoryEntries`.
 */
export function serviceRequestSubmodel(
  b: AasBuilder,
  id: string,
  history: readonly LogEntry[],
): AasCore.types.Submodel {
  const byRequest = new Map<string, LogEntry[]>();
  const other: LogEntry[] = [];
  for (const e of history) {
    const req = requestOf(e);
    if (req === undefined) other.push(e);
    else byRequest.set(req, [...(byRequest.get(req) ?? []), e]);
  }
  const notifications = [...byRequest.entries()].map(([requestId, entries], i) => {
    const request = entries.find((e) => e.type === "serviceRequest");
    const p = (request?.payload ?? {}) as Payload;
    let status = "sent";
    for (const e of entries) status = statusAfter(e.type) ?? status;
    const serviceType =
      str(p.serviceType) ??
      str(
        (entries.find((e) => str((e.payload as Payload | null)?.serviceType))?.payload as Payload)
          ?.serviceType,
      ) ??
      "unknown";
    const description = str(p.description);
    return b.collection(
      `ServiceRequestNotification${String(i + 1).padStart(2, "0")}`,
      SERVICE_REQUEST.notification,
      [
        b.property("ServiceRequestNotificationId", SERVICE_REQUEST.id, requestId),
        b.property(
          "Priority",
          SERVICE_REQUEST.priority,
          PRIORITY[str(p.priority) ?? ""] ?? "Medium",
        ),
        b.property("Status", SERVICE_REQUEST.status, status),
        b.text(
          "ShortText",
          SERVICE_REQUEST.shortText,
          description ?? `${serviceType} (${requestId})`,
        ),
        b.property("ServiceType", SERVICE_REQUEST.serviceType, serviceType),
        b.collection("DetailedInformation", SERVICE_REQUEST.detailedInformation, [
          ...(description === undefined
            ? []
            : [b.text("LongText", SERVICE_REQUEST.longText, description)]),
          ...(str(p.faultStart) === undefined
            ? []
            : [
                b.property(
                  "StartOfFault",
                  SERVICE_REQUEST.startOfFault,
                  str(p.faultStart),
                  "dateTime",
                ),
              ]),
          ...(str(p.errorCode) === undefined
            ? []
            : [b.property("ErrorCode", SERVICE_REQUEST.errorCode, str(p.errorCode))]),
        ]),
        b.collection("ReportedBy", SERVICE_REQUEST.reportedBy, [
          b.property("SenderSystem", SERVICE_REQUEST.senderSystem, (request ?? entries[0]!).signer),
        ]),
        signedLog(b, "SignedLog", entries),
      ],
    );
  });
  return b.submodel(id, "ServiceRequestNotification", SERVICE_REQUEST.submodel, [
    b.property(
      "NumberOfServiceRequestNotifications",
      SERVICE_REQUEST.count,
      String(notifications.length),
      "long",
    ),
    ...notifications,
    ...(other.length === 0 ? [] : [signedLog(b, "OtherHistoryEntries", other)]),
  ]);
}

function signedLog(
  b: AasBuilder,
  idShort: string,
  entries: readonly LogEntry[],
): AasCore.types.SubmodelElementCollection {
  return b.collection(
    idShort,
    MAASKIT.signedLog,
    entries.map((e) =>
      b.collection(`Entry${e.seq}`, MAASKIT.logEntry, [
        b.property("LogId", MAASKIT.logEntry, e.logId),
        b.property("Seq", MAASKIT.logSeq, String(e.seq), "unsignedLong"),
        b.property("Type", MAASKIT.logType, e.type),
        b.property("At", MAASKIT.logAt, e.at, "dateTime"),
        b.property("Signer", MAASKIT.logSigner, e.signer),
        b.property("EntryHash", MAASKIT.logHash, hashLogEntry(e)),
      ]),
    ),
  );
}
