// @maaskit/metering/mqtt — plain MQTT topics (JSON or bare values) as a reading source.
// Loads mqtt (an optional peer) on first use; the main entry never does.
export {
  type FromMqttErrorCode,
  type FromMqttOptions,
  fromMqtt,
  type MqttTopicMapping,
} from "./sources/fromMqtt.js";
