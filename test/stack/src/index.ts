export { readStackEnv, userKubeconfig, type StackEnv } from './env.js';
export { up, down, status, readState, reinstallControllerIdentities, STACK_COMPONENTS, restartComponent, pauseComponent, currentNetns, attachProcesses, readAttached, stopAttached, type StackState } from './stack.js';
export { findProcesses, listeningPorts, netnsOf, readCmdline, isAlive, type DaemonRecord } from './procs.js';
export { freePort, isListening } from './ports.js';
export { cacheDir, defaultRunDir, REPO_ROOT, CRD_DIR } from './paths.js';
export { USERS } from './pki.js';
export { waitFor } from './wait.js';
export { eventually, crdEstablished, controllerKubeconfig, grantSecrets, grantLeases, kubectl, kubectlOk, kubeConfig, clients, uniqueName, withNamespace, stackEnv, stackInstallEnv, sh, type KubectlResult, type StackUserName } from './testing.js';
export { traefikPaths, INGRESS_CLASSES, type TraefikAddresses } from './traefik.js';
export { KAFKA_SASL_USER } from './components.js';
export { CONTROLLERS, CONTROLLER_NAMESPACE, RELEASE, controllerServiceAccount, controllerKubeconfigPath, renderControllerIdentities, type ControllerName } from './identities.js';
export { CHART, helm, helmBin, render, renderYaml, parseObjects, toYamlStream, type K8sObject, type RenderOptions } from './helm.js';
export { installRelease, uninstallRelease, releaseHistory, stackValues, mergeValues, STACK_AWS_SECRET, type ReleaseOptions } from './release.js';
export { spawnController, controllerEnv, stackIdentityGrants, STACK_AWS_CREDENTIALS, TEST_ENDPOINT_MANAGER, type ControllerProcess, type SpawnControllerOptions } from './controllers.js';
export { nodeCgroup, remainingCgroups, cgroupPids } from './node/node.js';
export { NODE, STACK_IMAGES, sleeperPod } from './node/config.js';
// Test harnesses shared across packages (a package's tests never import another package's test/ folder).
export { Recorder, registerFunction, type Received, type Behaviour } from './harness/recorder.js';
export { kubeless, kubelessOk, KUBELESS_BIN, type Run, type RunOptions } from './harness/kubeless-cli.js';
export { namedServerCert, startNamedServer, startConnectProxy, type NamedCert, type NamedServer, type NamedRequest, type ConnectProxy } from './harness/tls-proxy.js';
export { startInProcess, type InProcessController } from './harness/in-process.js';
export { startFunctionController } from './harness/function-controller.js';
export {
  kubeClient as kafkaTestClient,
  brokers as kafkaBrokers,
  testOptions as kafkaTriggerTestOptions,
  startController as startKafkaTrigger,
  spawnController as spawnKafkaTrigger,
  kafka as kafkaClient,
  createTopic,
  produce,
  readTopic,
  kafkaTrigger,
  triggersPath as kafkaTriggersPath,
  type RunningController as RunningKafkaTrigger,
  type TestMessage as KafkaTestMessage,
} from './harness/kafka-trigger.js';
export {
  TEST_CREDENTIALS as SQS_TEST_CREDENTIALS,
  kubeClient as sqsTestClient,
  sqs as sqsClient,
  createQueue,
  sendMessages,
  readQueue,
  queueCounts,
  sqsTrigger,
  triggersPath as sqsTriggersPath,
  createCredentialsSecret,
  testOptions as sqsTriggerTestOptions,
  startController as startSqsTrigger,
  spawnController as spawnSqsTrigger,
  waitExit,
  header,
  type RunningController as RunningSqsTrigger,
  type TestMessage as SqsTestMessage,
} from './harness/sqs-trigger.js';
