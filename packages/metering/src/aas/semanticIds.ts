// Semantic ids of the IDTA submodel templates the AAS export follows, as the templates
// publish them, and maaskit's own ids for what the templates leave to the user.

/** IDTA 02006-2-0 Digital Nameplate for Industrial Equipment. */
export const NAMEPLATE = {
  submodel: "https://admin-shell.io/zvei/nameplate/2/0/Nameplate",
  uriOfTheProduct: "0173-1#02-AAY811#001",
  manufacturerName: "0173-1#02-AAO677#002",
  manufacturerProductDesignation: "0173-1#02-AAW338#001",
  serialNumber: "0173-1#02-AAM556#002",
  yearOfConstruction: "0173-1#02-AAP906#001",
} as const;

/** IDTA 02008-1-1 Time Series Data. */
export const TIME_SERIES = {
  submodel: "https://admin-shell.io/idta/TimeSeries/1/1",
  metadata: "https://admin-shell.io/idta/TimeSeries/Metadata/1/1",
  metadataName: "https://admin-shell.io/idta/TimeSeries/Metadata/Name/1/1",
  metadataDescription: "https://admin-shell.io/idta/TimeSeries/Metadata/Description/1/1",
  record: "https://admin-shell.io/idta/TimeSeries/Record/1/1",
  records: "https://admin-shell.io/idta/TimeSeries/Records/1/1",
  utcTime: "https://admin-shell.io/idta/TimeSeries/UtcTime/1/1",
  segments: "https://admin-shell.io/idta/TimeSeries/Segments/1/1",
  internalSegment: "https://admin-shell.io/idta/TimeSeries/Segments/InternalSegment/1/1",
  segmentName: "https://admin-shell.io/idta/TimeSeries/Segment/Name/1/1",
  segmentDescription: "https://admin-shell.io/idta/TimeSeries/Segment/Description/1/1",
  recordCount: "https://admin-shell.io/idta/TimeSeries/Segment/RecordCount/1/1",
  startTime: "https://admin-shell.io/idta/TimeSeries/Segment/StartTime/1/1",
  endTime: "https://admin-shell.io/idta/TimeSeries/Segment/EndTime/1/1",
  state: "https://admin-shell.io/idta/TimeSeries/Segment/State/1/1",
} as const;

/** IDTA 02010-1-0 Service Request Notification. */
export const SERVICE_REQUEST = {
  submodel: "0173-1#01-AHX443#001",
  count: "0173-1#02-ABI761#001",
  notification: "0173-1#01-AHX444#001",
  id: "0173-1#02-ABI772#001",
  priority: "0173-1#02-ABI773#001",
  status: "0173-1#02-ABH938#002",
  shortText: "0173-1#02-ABI762#001",
  serviceType: "0173-1#02-ABI763#001",
  detailedInformation: "0173-1#01-AHX445#001",
  longText: "0173-1#02-ABI764#001",
  startOfFault: "0173-1#02-ABI765#001",
  errorCode: "0173-1#02-ABI766#001",
  reportedBy: "0173-1#01-AHX448#001",
  senderSystem: "0173-1#02-ABI770#001",
} as const;

/** maaskit's ids: what a record or a log line adds, so the twin points back to the proof. */
export const MAASKIT = {
  register: "urn:maaskit:aas:meterRecord:registerEnd:1",
  delta: "urn:maaskit:aas:meterRecord:quantity:1",
  seq: "urn:maaskit:aas:meterRecord:seq:1",
  recordHash: "urn:maaskit:aas:meterRecord:digest:1",
  unit: "urn:maaskit:aas:meterRecord:unit:1",
  total: "urn:maaskit:aas:timeSeries:segmentTotal:1",
  signedLog: "urn:maaskit:aas:signedLog:entries:1",
  logEntry: "urn:maaskit:aas:signedLog:entry:1",
  logSeq: "urn:maaskit:aas:signedLog:seq:1",
  logType: "urn:maaskit:aas:signedLog:type:1",
  logAt: "urn:maaskit:aas:signedLog:at:1",
  logHash: "urn:maaskit:aas:signedLog:digest:1",
  logSigner: "urn:maaskit:aas:signedLog:signer:1",
} as const;
