// @maaskit/metering/opcua — the OPC UA source. Loads node-opcua-client; the main entry never does.
export {
  type FromOpcUaErrorCode,
  type FromOpcUaOptions,
  fromOpcUa,
  type OpcUaNode,
  type OpcUaNodeKind,
} from "./sources/fromOpcUa.js";
export {
  certificateThumbprint,
  type OpcUaConnectionSecurity,
  type OpcUaSecurityMode,
  type OpcUaSecurityOptions,
  type OpcUaSecurityPolicy,
  type OpcUaUserIdentity,
  opcUaSourceIsInsecure,
  pinFileOf,
  trustOpcUaServerCertificate,
} from "./sources/opcUaSecurity.js";
