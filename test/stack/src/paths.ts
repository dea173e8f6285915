import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (test/stack/dist or test/stack/src are two levels below it). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STACK_ROOT = path.join(REPO_ROOT, 'test', 'stack');
export const CRD_DIR = path.join(REPO_ROOT, 'helm', 'kubeless', 'crds');

/** Pinned versions, read from build/versions.sh so the shell build and the runner agree. */
export interface Versions {
  K8S_VERSION: string;
  ETCD_VERSION: string;
  KAFKA_VERSION: string;
  ELASTICMQ_VERSION: string;
  CONTAINERD_VERSION: string;
  RUNC_VERSION: string;
  CNI_PLUGINS_VERSION: string;
}

export function readVersions(): Versions {
  const text = readFileSync(path.join(STACK_ROOT, 'build', 'versions.sh'), 'utf8');
  const get = (key: keyof Versions): string => {
    const m = new RegExp(`^${key}=(\\S+)$`, 'm').exec(text);
    if (!m?.[1]) throw new Error(`versions.sh has no ${key}`);
    return m[1];
  };
  return {
    K8S_VERSION: get('K8S_VERSION'),
    ETCD_VERSION: get('ETCD_VERSION'),
    KAFKA_VERSION: get('KAFKA_VERSION'),
    ELASTICMQ_VERSION: get('ELASTICMQ_VERSION'),
    CONTAINERD_VERSION: get('CONTAINERD_VERSION'),
    RUNC_VERSION: get('RUNC_VERSION'),
    CNI_PLUGINS_VERSION: get('CNI_PLUGINS_VERSION'),
  };
}

/** Where built components are cached, outside the repository. */
export function cacheDir(): string {
  return process.env.KUBELESS_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'kubeless-stack');
}

/** The stack's run folder: PKI, kubeconfigs, data, logs, the env file and the state file. */
export function defaultRunDir(): string {
  return path.resolve(process.env.KUBELESS_STACK_DIR ?? path.join(REPO_ROOT, '.stack'));
}

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kafkaLibs: string;
  elasticmqLibs: string;
  kubelet: string;
  kubeScheduler: string;
  kubeProxy: string;
  containerd: string;
  ctr: string;
  runc: string;
  /** The CNI plugins' folder: bridge, host-local, loopback, portmap. */
  cniBinDir: string;
  /** The image archives built by build.sh (build_node_images), `<name>.oci.tar`. */
  imagesDir: string;
}

export function binaries(v: Versions = readVersions(), cache: string = cacheDir()): Binaries {
  return {
    etcd: path.join(cache, `etcd-${v.ETCD_VERSION}`, 'etcd'),
    kubeApiserver: path.join(cache, `k8s-${v.K8S_VERSION}`, 'kube-apiserver'),
    kubeControllerManager: path.join(cache, `k8s-${v.K8S_VERSION}`, 'kube-controller-manager'),
    kafkaLibs: path.join(cache, `kafka-${v.KAFKA_VERSION}`, 'libs'),
    elasticmqLibs: path.join(cache, `elasticmq-${v.ELASTICMQ_VERSION}`, 'libs'),
    kubelet: path.join(cache, `k8s-node-${v.K8S_VERSION}`, 'kubelet'),
    kubeScheduler: path.join(cache, `k8s-node-${v.K8S_VERSION}`, 'kube-scheduler'),
    kubeProxy: path.join(cache, `k8s-node-${v.K8S_VERSION}`, 'kube-proxy'),
    containerd: path.join(cache, `containerd-${v.CONTAINERD_VERSION}`, 'containerd'),
    ctr: path.join(cache, `containerd-${v.CONTAINERD_VERSION}`, 'ctr'),
    runc: path.join(cache, `runc-${v.RUNC_VERSION}`, 'runc'),
    cniBinDir: path.join(cache, `cni-plugins-${v.CNI_PLUGINS_VERSION}`),
    imagesDir: path.join(cache, 'images'),
  };
}
