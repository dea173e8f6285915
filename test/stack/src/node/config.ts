/**
 * The configuration files of the stack's node: containerd's, the kubelet's and the CNI network's.
 * Pure renderers, so what the node runs with can be read (and tested) in one place.
 */

/** The node's name, its address in the stack's network namespace, and its pod range. */
export const NODE = {
  name: 'kubeless-node',
  /** On the loopback of the stack's namespace, added at its creation (netns.sh); never on the host. */
  ip: '10.240.0.1',
  /** A part of the stack's pod range; the rest is AnyIP routes for the tests' stand-in functions (netns.sh). */
  podSubnet: '10.244.128.0/18',
  podGateway: '10.244.128.1',
  bridge: 'kbl0',
  clusterDns: '10.96.0.10',
  clusterDomain: 'cluster.local',
  kubeletPort: 10250,
  kubeletHealthzPort: 10248,
  kubeProxyMetricsPort: 10249,
  kubeProxyHealthzPort: 10256,
  /** kube-network-policies' metrics (its readiness), on the namespace's loopback. */
  networkPolicyMetricsPort: 10270,
  /** The stack's ranges (the API server's --service-cluster-ip-range, the pods'). */
  serviceCidr: '10.96.0.0/16',
  clusterCidr: '10.244.0.0/16',
} as const;

/** Images built here (test/stack/images) and imported into containerd's k8s.io namespace. */
export const STACK_IMAGES = {
  pause: 'kubeless.local/pause:stack',
  busybox: 'kubeless.local/busybox:stack',
  coredns: 'kubeless.local/coredns:stack',
  networkPolicies: 'kubeless.local/kube-network-policies:stack',
  /** The ingress controller (test/stack/src/traefik.ts). */
  traefik: 'kubeless.local/traefik:stack',
  /** Debian bookworm minbase with python3 (mmdebstrap): the base of the python3.11 runtime. */
  python311: 'kubeless.local/python:3.11',
} as const;

/**
 * A busybox pod that only sleeps (container `client`), to connect from with `kubectl exec ... nc`:
 * it passes Pod Security `restricted`, so it runs in any namespace.
 */
export function sleeperPod(namespace: string, name: string, labels: Record<string, string> = {}): { apiVersion: string; kind: string; metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: object } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      // sleep as PID 1 ignores SIGTERM.
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'client',
          image: STACK_IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['sleep', '3600'],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
        },
      ],
    },
  };
}

export interface NodePaths {
  /** The node's folder in the run folder: state, configs, logs. */
  dir: string;
  runc: string;
  cniBinDir: string;
  /** containerd's gRPC socket. */
  socket: string;
}

const toml = (s: string): string => JSON.stringify(s);

/** containerd's config (version 3, containerd 2.x; 2.4 migrates it in memory and says so in its log): CRI with runc, CNI and our pause image. */
export function containerdConfig(p: NodePaths): string {
  return `version = 3
root = ${toml(`${p.dir}/containerd/root`)}
state = ${toml(`${p.dir}/containerd/state`)}

[grpc]
  address = ${toml(p.socket)}

[ttrpc]
  address = ${toml(`${p.socket}.ttrpc`)}

[debug]
  level = "warn"

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${toml(STACK_IMAGES.pause)}
    # Where each registry is pulled from (registryHosts): the stack's own registry.
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = ${toml(`${p.dir}/certs.d`)}

  [plugins.'io.containerd.cri.v1.runtime']
    # This sandbox may not lower oom_score_adj (the pause container asks for -998).
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    enable_unprivileged_ports = true
    enable_unprivileged_icmp = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = ${toml(p.runc)}
          Root = ${toml(`${p.dir}/runc`)}
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [${toml(p.cniBinDir)}]
      conf_dir = ${toml(`${p.dir}/cni`)}

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`;
}

/**
 * containerd's hosts.toml per registry (certs.d/<registry>/hosts.toml): docker.io (the kubeless
 * images' short names) and kubeless.local (the stack's own) are pulled from the stack's registry
 * at `registry` (host:port, plain HTTP); docker.io keeps its upstream as the fallback a cluster
 * would have, which this machine cannot reach.
 */
export function registryHosts(registry: string): Record<string, string> {
  const mirror = `[host.${toml(`http://${registry}`)}]\n  capabilities = ["pull", "resolve"]\n`;
  return {
    'docker.io': `server = "https://registry-1.docker.io"\n\n${mirror}`,
    'kubeless.local': `server = ${toml(`http://${registry}`)}\n\n${mirror}`,
  };
}

/** The pod network: a bridge with the node as gateway, host-local addresses, port mappings. */
export function cniConfig(p: Pick<NodePaths, 'dir'>): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'kubeless',
      plugins: [
        {
          type: 'bridge',
          bridge: NODE.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: NODE.podSubnet, gateway: NODE.podGateway }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: `${p.dir}/cni-ipam`,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export interface KubeletPaths extends NodePaths {
  caFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  resolvConf: string;
  /** The node's cgroup, e.g. /kubeless-<netns>: pods go under <cgroupRoot>/kubepods. */
  cgroupRoot: string;
}

/**
 * The KubeletConfiguration: cgroupfs (there is no systemd), cgroup v1 accepted (this machine's
 * hierarchies are v1), no swap check, no disk-based eviction or allocatable enforcement on the
 * shared disk; authentication by client certificate and webhook, never anonymous.
 */
export function kubeletConfig(p: KubeletPaths): string {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: '0.0.0.0',
      port: NODE.kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: NODE.kubeletHealthzPort,
      tlsCertFile: p.tlsCertFile,
      tlsPrivateKeyFile: p.tlsKeyFile,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: p.caFile },
      },
      authorization: { mode: 'Webhook' },
      containerRuntimeEndpoint: `unix://${p.socket}`,
      cgroupDriver: 'cgroupfs',
      cgroupRoot: p.cgroupRoot,
      cgroupsPerQOS: true,
      failCgroupV1: false,
      failSwapOn: false,
      enforceNodeAllocatable: [],
      localStorageCapacityIsolation: false,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '0%', 'imagefs.available': '0%', 'nodefs.inodesFree': '0%' },
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      serializeImagePulls: false,
      clusterDNS: [NODE.clusterDns],
      clusterDomain: NODE.clusterDomain,
      resolvConf: p.resolvConf,
      podLogsDir: `${p.dir}/pod-logs`,
      registerNode: true,
      rotateCertificates: false,
      serverTLSBootstrap: false,
      syncFrequency: '10s',
      fileCheckFrequency: '10s',
      nodeStatusUpdateFrequency: '5s',
      maxPods: 250,
    },
    null,
    2,
  );
}

/**
 * kube-proxy in nftables mode (the maintained one), run in the stack's network namespace. It
 * masquerades all Service traffic: this kernel has no br_netfilter, so a pod reaching a Service
 * backed by a pod on the same bridge would otherwise get its reply from the wrong address. It
 * leaves the machine's conntrack and OOM settings alone (this sandbox may not change them).
 */
export function kubeProxyConfig(kubeconfig: string): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'nftables',
      clientConnection: { kubeconfig },
      hostnameOverride: NODE.name,
      bindAddress: NODE.ip,
      healthzBindAddress: `127.0.0.1:${String(NODE.kubeProxyHealthzPort)}`,
      metricsBindAddress: `127.0.0.1:${String(NODE.kubeProxyMetricsPort)}`,
      clusterCIDR: NODE.clusterCidr,
      nftables: { masqueradeAll: true, syncPeriod: '30s', minSyncPeriod: '0s' },
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      oomScoreAdj: 0,
      nodePortAddresses: [`${NODE.ip}/32`],
    },
    null,
    2,
  );
}

/**
 * CoreDNS as the cluster DNS (kube-system/coredns at ${NODE.clusterDns}), on the stack's node:
 * its ServiceAccount and read-only RBAC, the Corefile (the cluster domain only: the stack has no
 * upstream resolver), a Deployment pinned to the node and the Service.
 */
export function coreDnsManifests(): object[] {
  const labels = { 'k8s-app': 'kube-dns' };
  const corefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ${NODE.clusterDomain} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
    loop
    reload
}
`;
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'coredns', namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'system:coredns' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:coredns' },
      subjects: [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }],
    },
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: 'kube-system' }, data: { Corefile: corefile } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            nodeName: NODE.name,
            serviceAccountName: 'coredns',
            dnsPolicy: 'Default',
            priorityClassName: 'system-cluster-critical',
            securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'coredns',
                image: STACK_IMAGES.coredns,
                imagePullPolicy: 'Never',
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } },
                securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
                livenessProbe: { httpGet: { path: '/health', port: 8080 }, periodSeconds: 10, failureThreshold: 5 },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
              },
            ],
            volumes: [{ name: 'config', configMap: { name: 'coredns' } }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels },
      spec: {
        clusterIP: NODE.clusterDns,
        selector: labels,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
  ];
}

/**
 * The NetworkPolicy engine: sigs.k8s.io/kube-network-policies (SIG Network; kind's) as a DaemonSet
 * in kube-system, on the node's network with CAP_NET_ADMIN, reading pods, namespaces and
 * NetworkPolicies with read-only RBAC of its own. Its nftables table sends the first packet of
 * each new connection to or from a pod that a policy selects to an nfqueue, and it answers with
 * the policies' verdict (denied: dropped, so the client times out, as in a cluster). Traffic from
 * root processes on the node (the kubelet's probes, the stack's host processes) is let through,
 * as upstream does. No NRI (the stack's containerd has none): a pod's IP comes from the API.
 */
export function networkPolicyManifests(): object[] {
  const labels = { 'k8s-app': 'kube-network-policies' };
  const name = 'kube-network-policies';
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: 'kube-system' } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name },
      rules: [
        { apiGroups: [''], resources: ['pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: 'kube-system' }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name, namespace: 'kube-system', labels },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            hostNetwork: true,
            serviceAccountName: name,
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists' }],
            containers: [
              {
                name,
                image: STACK_IMAGES.networkPolicies,
                imagePullPolicy: 'Never',
                args: [
                  `--hostname-override=${NODE.name}`,
                  `--metrics-bind-address=127.0.0.1:${String(NODE.networkPolicyMetricsPort)}`,
                  '--disable-nri',
                  // Kernels from 6.12 have the conntrack fix this works around.
                  '--netfilter-bug-1766-fix=false',
                  '--v=2',
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '256Mi' } },
                // Root with NET_ADMIN only (nftables and the nfqueue netlink socket); upstream runs privileged.
                securityContext: { readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } },
                readinessProbe: { httpGet: { host: '127.0.0.1', path: '/metrics', port: NODE.networkPolicyMetricsPort }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  ];
}
