import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { indexArchives, route } from '../../src/registry/registry.js';

const dir = mkdtempSync(path.join(tmpdir(), 'registry-test-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('the stack image registry', () => {
  it.each([
    ['/v2/', { kind: 'ping' }],
    ['/v2/kubeless/runtime-nodejs/manifests/24?ns=docker.io', { kind: 'manifest', ref: 'docker.io/kubeless/runtime-nodejs:24', byDigest: false }],
    ['/v2/busybox/manifests/stack?ns=kubeless.local', { kind: 'manifest', ref: 'kubeless.local/busybox:stack', byDigest: false }],
    [`/v2/kubeless/runtime-nodejs/manifests/sha256:${'a'.repeat(64)}?ns=docker.io`, { kind: 'manifest', ref: `sha256:${'a'.repeat(64)}`, byDigest: true }],
    [`/v2/kubeless/runtime-nodejs/blobs/sha256:${'b'.repeat(64)}`, { kind: 'blob', digest: `sha256:${'b'.repeat(64)}` }],
  ])('routes %s', (url, want) => {
    expect(route(url)).toEqual(want);
  });

  it.each(['/', '/v2/../etc/passwd/manifests/x', '/v2/x/blobs/sha256:short', '/v2/x/tags/list', '/v2/UPPER/manifests/1'])('serves nothing else: %s', (url) => {
    expect(route(url)).toBeUndefined();
  });

  it('indexes an OCI archive in place: its image name and where each blob is', async () => {
    const layout = path.join(dir, 'layout');
    const manifest = JSON.stringify({ schemaVersion: 2 });
    const hex = 'c'.repeat(64);
    mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(path.join(layout, 'blobs', 'sha256', hex), manifest);
    writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hex}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'docker.io/kubeless/x:1' } }] }),
    );
    const out = path.join(dir, 'archives');
    mkdirSync(out);
    execFileSync('tar', ['-cf', path.join(out, 'x.oci.tar'), '-C', layout, 'blobs', 'index.json', 'oci-layout']);
    const index = await indexArchives(out);
    expect(index.refs.get('docker.io/kubeless/x:1')).toEqual({ digest: `sha256:${hex}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' });
    const blob = index.blobs.get(`sha256:${hex}`);
    expect(blob?.size).toBe(manifest.length);
    const bytes = readFileSync(path.join(out, 'x.oci.tar')).subarray(blob?.offset ?? 0, (blob?.offset ?? 0) + manifest.length);
    expect(bytes.toString()).toBe(manifest);
  });
});
