// @maaskit/metering/opcua — the OPC UA source. Loads node-opcua-client; the main entry never does.
export {
  type FromOpcUaErrorCode,
  type FromOpcUaOptions,
  fromOpcUa,
  type OpcUaNode,
  type OpcUaNodeKind,
} from "./sources/fromOpcUa.js";
