/**
 * Test support for the kafka-trigger against the real stack: recording functions, the controller
 * in-process or as a child process, and Kafka helpers. They live in @kubeless/stack (shared with
 * the sqs-trigger's tests, test/chaos and test/e2e); this file keeps the names these tests use.
 */
export {
  Recorder,
  registerFunction,
  eventually,
  kafkaTestClient as kubeClient,
  kafkaBrokers as brokers,
  kafkaTriggerTestOptions as testOptions,
  startKafkaTrigger as startController,
  spawnKafkaTrigger as spawnController,
  kafkaClient as kafka,
  createTopic,
  produce,
  readTopic,
  kafkaTrigger,
  kafkaTriggersPath as triggersPath,
  type Received,
  type Behaviour,
  type RunningKafkaTrigger as RunningController,
  type KafkaTestMessage as TestMessage,
} from '@kubeless/stack';
