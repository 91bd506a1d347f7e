// @maaskit/metering/simulator — a simulated screw compressor behind a real OPC UA server.
// Loads node-opcua (an optional peer dependency); never imported by the main entry.

export {
  type CompressorEdgeNode,
  type StartCompressorEdgeNodeOptions,
  startCompressorEdgeNode,
} from "./simulator/compressorEdgeNode.js";
export {
  type CompressorModel,
  type CompressorModelOptions,
  type CompressorSnapshot,
  type CompressorState,
  compressorModel,
  compressorStateCodes,
  type DemandProfile,
} from "./simulator/compressorModel.js";
export {
  type CompressorFault,
  type CompressorServer,
  type CompressorServerErrorCode,
  type CompressorSessionSecurity,
  type StartCompressorServerOptions,
  startCompressorServer,
} from "./simulator/compressorServer.js";
