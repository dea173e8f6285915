/**
 * Test support for the sqs-trigger against the real stack (ElasticMQ, the API server): recording
 * functions, the controller in-process or as a child process, and SQS helpers. They live in
 * @kubeless/stack (shared with test/chaos and test/e2e); this file keeps the names these tests use.
 */
export {
  Recorder,
  registerFunction,
  eventually,
  SQS_TEST_CREDENTIALS as TEST_CREDENTIALS,
  sqsTestClient as kubeClient,
  sqsClient as sqs,
  createQueue,
  sendMessages,
  readQueue,
  queueCounts,
  sqsTrigger,
  sqsTriggersPath as triggersPath,
  createCredentialsSecret,
  sqsTriggerTestOptions as testOptions,
  startSqsTrigger as startController,
  spawnSqsTrigger as spawnController,
  waitExit,
  header,
  type Received,
  type Behaviour,
  type RunningSqsTrigger as RunningController,
  type SqsTestMessage as TestMessage,
} from '@kubeless/stack';
