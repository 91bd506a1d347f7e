// @maaskit/metering/sparkplug — the Sparkplug B source (a Sparkplug 3.0 host application).
// Loads mqtt and @bufbuild/protobuf (optional peers) on first use; the main entry never does.
export {
  type FromSparkplugErrorCode,
  type FromSparkplugOptions,
  fromSparkplug,
  type SparkplugMetricMapping,
} from "./sources/sparkplug/fromSparkplug.js";
export type { SparkplugHostOutput, SparkplugResyncReason } from "./sources/sparkplug/host.js";
