export { readStackEnv, userKubeconfig, type StackEnv } from './env.js';
export { up, down, status, readState, restartComponent, currentNetns, type StackState } from './stack.js';
export { findProcesses, listeningPorts, netnsOf, readCmdline } from './procs.js';
export { freePort, isListening } from './ports.js';
export { defaultRunDir, REPO_ROOT, CRD_DIR } from './paths.js';
export { USERS } from './pki.js';
export { waitFor } from './wait.js';
export { eventually, kubectl, kubectlOk, kubeConfig, clients, uniqueName, withNamespace, stackEnv, sh, type KubectlResult, type StackUserName } from './testing.js';
export { traefikPaths, INGRESS_CLASSES, type TraefikAddresses } from './traefik.js';
