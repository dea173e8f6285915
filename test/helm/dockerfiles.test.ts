/**
 * The images' Dockerfiles (the controllers' one, services/Dockerfile, the two runtimes, and the
 * stack node's pause, busybox, CoreDNS and Traefik): hadolint finds nothing (cached by test/stack/build/hadolint.sh),
 * and each final stage runs as a non-root user, with no shell needed at run time for the
 * controllers (distroless). The images themselves are built by test/stack/build/images.sh and run on the
 * stack's node (test/helm/install.test.ts). Not here: the NetworkPolicy engine's image, which runs
 * as root with NET_ADMIN, as a cluster's network plugin does.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, cacheDir } from '@kubeless/stack';
import { describe, expect, it } from 'vitest';

const DOCKERFILES = ['services/Dockerfile', 'runtimes/nodejs/Dockerfile', 'runtimes/python/Dockerfile', 'test/stack/images/pause/Dockerfile', 'test/stack/images/busybox/Dockerfile', 'test/stack/images/distroless-nodejs/Dockerfile', 'test/stack/images/coredns/Dockerfile', 'test/stack/images/traefik/Dockerfile'];

function hadolintBin(): string {
  const version = /^HADOLINT_VERSION=(\S+)$/m.exec(readFileSync(path.join(REPO_ROOT, 'test/stack/build/versions.sh'), 'utf8'))?.[1];
  if (!version) throw new Error('versions.sh has no HADOLINT_VERSION');
  return path.join(cacheDir(), `hadolint-${version}`, 'hadolint');
}

function hadolint(file: string): Promise<{ code: number; findings: { line: number; code: string; message: string }[] }> {
  return new Promise((resolve) => {
    execFile(hadolintBin(), ['--format', 'json', '--no-fail', file], { cwd: REPO_ROOT }, (err, stdout) => {
      resolve({ code: err ? 1 : 0, findings: JSON.parse(stdout || '[]') as { line: number; code: string; message: string }[] });
    });
  });
}

/** The instructions of the last stage. */
function finalStage(file: string): string[] {
  const lines = readFileSync(path.join(REPO_ROOT, file), 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const from = lines.map((l, i) => (/^FROM\s/i.test(l) ? i : -1)).filter((i) => i >= 0);
  return lines.slice(from.at(-1) ?? 0);
}

describe('Dockerfiles', () => {
  for (const file of DOCKERFILES) {
    it(`${file}: hadolint is clean; the final stage runs as a non-root user`, async () => {
      const r = await hadolint(file);
      expect(r.code).toBe(0);
      expect(r.findings.map((f) => `${String(f.line)} ${f.code} ${f.message}`)).toEqual([]);
      const stage = finalStage(file);
      const user = stage.filter((l) => /^USER\s/i.test(l)).at(-1);
      expect(user, 'a USER in the final stage').toBeDefined();
      expect(user).not.toMatch(/^USER\s+(root|0)(:|\s|$)/i);
      if (file.startsWith('services/')) {
        // The controllers: distroless nonroot, no shell at run time, nothing written to disk.
        expect(stage[0]).toMatch(/^FROM gcr\.io\/distroless\/nodejs\$\{NODE_VERSION\}-debian12:nonroot$/);
        expect(stage.some((l) => /^RUN\s/i.test(l))).toBe(false);
      }
    });
  }
});
