import { describe, expect, it } from 'vitest';
import { NODE, STACK_IMAGES, cniConfig, containerdConfig, kubeletConfig, type KubeletPaths } from '../../src/node/config.js';

const paths: KubeletPaths = {
  dir: '/run/stack/node',
  runc: '/cache/runc-v1.5.3/runc',
  cniBinDir: '/cache/cni-plugins-v1.10.0',
  socket: '/run/stack/node/containerd.sock',
  caFile: '/run/stack/pki/ca.crt',
  tlsCertFile: '/run/stack/pki/node-kubelet-server.crt',
  tlsKeyFile: '/run/stack/pki/node-kubelet-server.key',
  resolvConf: '/run/stack/node/resolv.conf',
  cgroupRoot: '/kubeless-ns1',
};

describe('kubeletConfig', () => {
  const cfg = JSON.parse(kubeletConfig(paths)) as Record<string, unknown>;
  it('never serves anonymous requests, authorizes by webhook and serves the stack-issued certificate', () => {
    expect(cfg.authentication).toEqual({ anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: paths.caFile } });
    expect(cfg.authorization).toEqual({ mode: 'Webhook' });
    expect(cfg.readOnlyPort).toBe(0);
    expect([cfg.tlsCertFile, cfg.tlsPrivateKeyFile]).toEqual([paths.tlsCertFile, paths.tlsKeyFile]);
  });
  it('runs pods under the stack cgroup with the cgroupfs driver, accepting cgroup v1', () => {
    expect(cfg).toMatchObject({ cgroupDriver: 'cgroupfs', cgroupRoot: '/kubeless-ns1', failCgroupV1: false, cgroupsPerQOS: true });
  });
  it('talks to containerd on the node socket and points pods at the cluster DNS address', () => {
    expect(cfg.containerRuntimeEndpoint).toBe(`unix://${paths.socket}`);
    expect(cfg.clusterDNS).toEqual([NODE.clusterDns]);
  });
});

describe('containerdConfig', () => {
  const toml = containerdConfig(paths);
  it('keeps all state in the node folder and uses our runc, pause image and CNI plugins', () => {
    expect(toml).toContain(`root = "${paths.dir}/containerd/root"`);
    expect(toml).toContain(`address = "${paths.socket}"`);
    expect(toml).toContain(`BinaryName = "${paths.runc}"`);
    expect(toml).toContain(`sandbox = "${STACK_IMAGES.pause}"`);
    expect(toml).toContain(`bin_dirs = ["${paths.cniBinDir}"]`);
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
  });
});

describe('cniConfig', () => {
  it('gives pods addresses of the node range behind a bridge whose gateway is the node', () => {
    const conf = JSON.parse(cniConfig(paths)) as { plugins: { type: string; ipam?: { ranges: { subnet: string; gateway: string }[][]; dataDir: string } }[] };
    expect(conf.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect(conf.plugins[0]?.ipam?.ranges).toEqual([[{ subnet: NODE.podSubnet, gateway: NODE.podGateway }]]);
    expect(conf.plugins[0]?.ipam?.dataDir).toBe(`${paths.dir}/cni-ipam`);
  });
});
