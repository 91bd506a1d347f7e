// The Sparkplug B codec as its own file of the build (dist/sparkplugCodec.*), loaded only by
// loadSparkplugCodec(): it imports @bufbuild/protobuf, an optional peer dependency, which no
// entry point may load at import time (the CJS bundle would hoist the require).
export {
  decodeSparkplugPayload,
  encodeRebirthRequest,
  encodeSparkplugPayload,
} from "./sources/sparkplug/codec.js";
