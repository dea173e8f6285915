/**
 * The code preparation tool (`node dist/prepare.js`) as the `prepare` init container runs it: a
 * source dir standing for the ConfigMap mount, an install dir standing for the emptyDir volume.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeTar, makeZip } from './support/archives.js';
import { assertBuilt, NODE_PREPARE } from './support/runtime-process.js';

const CODE = "module.exports = { handler: (event) => 'hello ' + event.data };\n";

function sha256(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function hasProgram(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let root: string;
let src: string;
let install: string;

function runPrepare(env: Record<string, string>, options: { uid?: number; gid?: number; path?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NODE_PREPARE], {
      env: { PATH: options.path ?? process.env.PATH ?? '/usr/bin:/bin', KUBELESS_SRC_DIR: src, KUBELESS_INSTALL_VOLUME: install, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.once('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

function installed(rel: string): string {
  return readFileSync(path.join(install, rel), 'utf8');
}

/** Every path under the install dir, relative, sorted. */
function listInstall(dir = install, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => {
      const rel = prefix + d.name;
      return d.isDirectory() ? [rel + '/', ...listInstall(path.join(dir, d.name), rel + '/')] : [rel];
    })
    .sort();
}

beforeAll(() => {
  assertBuilt();
});

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'kubeless-prepare-'));
  src = path.join(root, 'src');
  install = path.join(root, 'kubeless');
  mkdirSync(src);
  mkdirSync(install);
  writeFileSync(path.join(src, 'handler'), 'hello.handler');
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('prepare: text, base64 and url code', () => {
  let server: Server;
  let base: string;
  const served = new Map<string, Buffer>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/code/hello.js' }).end();
        return;
      }
      if (req.url === '/slow') {
        setTimeout(() => res.end('late'), 3000);
        return;
      }
      const body = served.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end('not found');
      else res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('writes text code as is and copies the deps file', async () => {
    writeFileSync(path.join(src, 'hello.js'), CODE);
    writeFileSync(path.join(src, 'package.json'), '{"dependencies":{"left-pad":"1.3.0"}}');
    const r = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'text', FUNC_CHECKSUM: sha256(CODE), KUBELESS_DEPS_NAME: 'package.json' });
    expect(r.code, r.stderr).toBe(0);
    expect(installed('hello.js')).toBe(CODE);
    expect(installed('package.json')).toBe('{"dependencies":{"left-pad":"1.3.0"}}');
    expect(listInstall()).toEqual(['hello.js', 'package.json']);
  });

  it('treats an empty content type as text and skips an absent deps file', async () => {
    writeFileSync(path.join(src, 'hello.py'), 'def handler(event, context):\n    return "hi"\n');
    const r = await runPrepare({ FUNC_FILE: 'hello.py', FUNC_CONTENT_TYPE: '', KUBELESS_DEPS_NAME: 'requirements.txt' });
    expect(r.code, r.stderr).toBe(0);
    expect(listInstall()).toEqual(['hello.py']);
  });

  it('decodes base64 code and checks the checksum over the decoded bytes', async () => {
    const encoded = Buffer.from(CODE).toString('base64').replace(/(.{20})/g, '$1\n');
    writeFileSync(path.join(src, 'hello.js'), encoded);
    writeFileSync(path.join(src, 'requirements.txt'), 'requests==2.32.3\n');
    const r = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'base64', FUNC_CHECKSUM: sha256(CODE), KUBELESS_DEPS_NAME: 'requirements.txt' });
    expect(r.code, r.stderr).toBe(0);
    expect(installed('hello.js')).toBe(CODE);
    expect(installed('requirements.txt')).toBe('requests==2.32.3\n');
  });

  it('rejects content that is not base64', async () => {
    writeFileSync(path.join(src, 'hello.js'), 'not base64 at all!');
    const r = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'base64' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('base64');
    expect(listInstall()).toEqual([]);
  });

  it('downloads url code, following redirects', async () => {
    served.set('/code/hello.js', Buffer.from(CODE));
    writeFileSync(path.join(src, 'hello.js'), `${base}/moved\n`);
    const r = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'url', FUNC_CHECKSUM: sha256(CODE) });
    expect(r.code, r.stderr).toBe(0);
    expect(installed('hello.js')).toBe(CODE);
  });

  it('fails on an error status, a timeout, an oversized download and a non-http URL', async () => {
    writeFileSync(path.join(src, 'hello.js'), `${base}/nothing-here`);
    const missing = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'url' });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('HTTP 404');

    writeFileSync(path.join(src, 'hello.js'), `${base}/slow`);
    const slow = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'url', KUBELESS_DOWNLOAD_TIMEOUT: '0.5' });
    expect(slow.code).not.toBe(0);
    expect(slow.stderr).toContain('longer than 500 ms');

    served.set('/big', Buffer.alloc(64 * 1024, 'x'));
    writeFileSync(path.join(src, 'hello.js'), `${base}/big`);
    const big = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'url', KUBELESS_MAX_CODE_MB: '0.01' });
    expect(big.code).not.toBe(0);
    expect(big.stderr).toContain('larger than');

    writeFileSync(path.join(src, 'hello.js'), 'file:///etc/passwd');
    const file = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'url' });
    expect(file.code).not.toBe(0);
    expect(file.stderr).toContain('only http and https');
    expect(listInstall()).toEqual([]);
  });

  it('writes nothing and exits non-zero when the checksum does not match', async () => {
    writeFileSync(path.join(src, 'hello.js'), CODE);
    writeFileSync(path.join(src, 'package.json'), '{}');
    const r = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'text', FUNC_CHECKSUM: sha256('something else'), KUBELESS_DEPS_NAME: 'package.json' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('checksum mismatch');
    expect(r.stderr).toContain(sha256(CODE));
    expect(listInstall()).toEqual([]);
  });

  it('rejects a malformed checksum and an unknown content type', async () => {
    writeFileSync(path.join(src, 'hello.js'), CODE);
    const md5 = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CHECKSUM: 'md5:abc' });
    expect(md5.code).toBe(1);
    expect(md5.stderr).toContain('FUNC_CHECKSUM');
    const type = await runPrepare({ FUNC_FILE: 'hello.js', FUNC_CONTENT_TYPE: 'text+rar' });
    expect(type.code).toBe(1);
    expect(type.stderr).toContain('+rar');
    const noFile = await runPrepare({});
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toContain('FUNC_FILE');
    expect(listInstall()).toEqual([]);
  });
});

describe('prepare: zip archives', () => {
  const zip = makeZip([
    { name: 'hello.js', data: CODE, deflate: true },
    { name: 'lib/', dir: true },
    { name: 'lib/util.js', data: 'module.exports = 42;\n', deflate: true },
    { name: 'bin/run.sh', data: '#!/bin/sh\necho run\n', mode: 0o755 },
    { name: 'current', symlink: 'lib' },
    { name: 'package.json', data: '{"name":"from-the-archive"}' },
  ]);

  it('extracts base64+zip with directories, modes and inner links, after checking the checksum', async () => {
    writeFileSync(path.join(src, 'hello'), zip.toString('base64'));
    writeFileSync(path.join(src, 'package.json'), '{"name":"from-the-configmap"}');
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip', FUNC_CHECKSUM: sha256(zip), KUBELESS_DEPS_NAME: 'package.json' });
    expect(r.code, r.stderr).toBe(0);
    expect(installed('hello.js')).toBe(CODE);
    expect(installed('lib/util.js')).toBe('module.exports = 42;\n');
    expect(statSync(path.join(install, 'bin/run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(path.join(install, 'hello.js')).mode & 0o777).toBe(0o644);
    expect(readlinkSync(path.join(install, 'current'))).toBe('lib');
    // Without +deps the deps file comes from the ConfigMap, over the archive's copy.
    expect(installed('package.json')).toBe('{"name":"from-the-configmap"}');
    expect(existsSync(path.join(install, 'hello'))).toBe(false);
  });

  it('with +deps keeps the archive deps file', async () => {
    writeFileSync(path.join(src, 'hello'), zip.toString('base64'));
    writeFileSync(path.join(src, 'package.json'), '{"name":"from-the-configmap"}');
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip+deps', KUBELESS_DEPS_NAME: 'package.json' });
    expect(r.code, r.stderr).toBe(0);
    expect(installed('package.json')).toBe('{"name":"from-the-archive"}');
  });

  it('writes nothing from a zip whose checksum does not match', async () => {
    writeFileSync(path.join(src, 'hello'), zip.toString('base64'));
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip', FUNC_CHECKSUM: sha256(Buffer.concat([zip, Buffer.from('x')])) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('checksum mismatch');
    expect(listInstall()).toEqual([]);
  });

  it('rejects zip-slip entries before writing anything', async () => {
    for (const name of ['../evil.js', 'lib/../../evil.js', '/tmp/evil.js', 'C:/evil.js', 'a\\..\\..\\evil.js']) {
      rmSync(install, { recursive: true, force: true });
      mkdirSync(install);
      const evil = makeZip([{ name: 'hello.js', data: CODE }, { name, data: 'pwned' }]);
      writeFileSync(path.join(src, 'hello'), evil.toString('base64'));
      const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip' });
      expect(r.code, name).toBe(1);
      expect(r.stderr).toContain('KUBELESS_UNSAFE_PATH');
      expect(listInstall(), name).toEqual([]);
      expect(existsSync(path.join(root, 'evil.js'))).toBe(false);
    }
  });

  it('rejects a link that points out of the install directory', async () => {
    const evil = makeZip([{ name: 'escape', symlink: '../../../etc' }]);
    writeFileSync(path.join(src, 'hello'), evil.toString('base64'));
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('points outside');
    expect(listInstall()).toEqual([]);
  });

  it('rejects a corrupt zip', async () => {
    const broken = Buffer.from(zip);
    // Flip a byte inside the first entry's deflated data: the CRC or inflate check catches it.
    broken[40] = (broken[40] ?? 0) ^ 0xff;
    writeFileSync(path.join(src, 'hello'), broken.toString('base64'));
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('KUBELESS_BAD_ARCHIVE');
  });

  it('extracts a zip made by the zip command', async () => {
    if (!hasProgram('zip')) return expect.fail('the zip command is needed for this test');
    const work = path.join(root, 'work');
    mkdirSync(path.join(work, 'lib'), { recursive: true });
    writeFileSync(path.join(work, 'hello.js'), CODE);
    writeFileSync(path.join(work, 'lib', 'util.js'), 'module.exports = 1;\n');
    execFileSync('zip', ['-qr', path.join(root, 'code.zip'), '.'], { cwd: work });
    writeFileSync(path.join(src, 'hello'), readFileSync(path.join(root, 'code.zip')).toString('base64'));
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+zip' });
    expect(r.code, r.stderr).toBe(0);
    expect(listInstall()).toEqual(['hello.js', 'lib/', 'lib/util.js']);
  });
});

describe('prepare: compressed tar archives', () => {
  const longName = `deep/${'d'.repeat(60)}/${'f'.repeat(60)}.js`;
  const tar = makeTar([
    { name: 'hello.js', data: CODE },
    { name: 'lib/', type: '5' },
    { name: 'lib/util.js', data: 'module.exports = 42;\n' },
    { name: 'bin/run.sh', data: '#!/bin/sh\n', mode: 0o755 },
    { name: 'util-link.js', type: '2', linkname: 'lib/util.js' },
    { name: 'copy.js', type: '1', linkname: 'hello.js' },
    { name: longName, data: 'long\n' },
    { name: 'requirements.txt', data: 'flask==3.0.0\n' },
  ]);

  it('extracts url+compressedtar (gzip) with links, long names and modes', async () => {
    const tgz = gzipSync(tar);
    const server = createServer((_req, res) => res.end(tgz));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      writeFileSync(path.join(src, 'hello'), `http://127.0.0.1:${(server.address() as AddressInfo).port}/code.tgz`);
      const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'url+compressedtar+deps', FUNC_CHECKSUM: sha256(tgz), KUBELESS_DEPS_NAME: 'requirements.txt' });
      expect(r.code, r.stderr).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(installed('hello.js')).toBe(CODE);
    expect(installed('lib/util.js')).toBe('module.exports = 42;\n');
    expect(installed('copy.js')).toBe(CODE);
    expect(lstatSync(path.join(install, 'copy.js')).isSymbolicLink()).toBe(false);
    expect(readlinkSync(path.join(install, 'util-link.js'))).toBe('lib/util.js');
    expect(installed(longName)).toBe('long\n');
    expect(installed('requirements.txt')).toBe('flask==3.0.0\n');
    expect(statSync(path.join(install, 'bin/run.sh')).mode & 0o777).toBe(0o755);
  });

  it('extracts bzip2 and xz archives made by the tar command, in GNU and pax formats', async () => {
    const work = path.join(root, 'work');
    mkdirSync(path.join(work, 'node_modules', 'x'.repeat(80)), { recursive: true });
    writeFileSync(path.join(work, 'hello.js'), CODE);
    writeFileSync(path.join(work, 'node_modules', 'x'.repeat(80), `${'y'.repeat(80)}.js`), 'deep\n');
    const cases: [string, string[]][] = [
      ['bzip2', ['--format=gnu', '-cjf']],
      ['xz', ['--format=posix', '-cJf']],
      ['gzip', ['--format=gnu', '-czf']],
    ];
    for (const [program, flags] of cases) {
      if (!hasProgram(program)) return expect.fail(`the ${program} command is needed for this test`);
      rmSync(install, { recursive: true, force: true });
      mkdirSync(install);
      const archive = path.join(root, `code.${program}`);
      execFileSync('tar', [...flags, archive, '-C', work, '.']);
      writeFileSync(path.join(src, 'hello'), readFileSync(archive).toString('base64'));
      const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar' });
      expect(r.code, `${program}: ${r.stderr}`).toBe(0);
      expect(installed('hello.js')).toBe(CODE);
      expect(installed(`node_modules/${'x'.repeat(80)}/${'y'.repeat(80)}.js`)).toBe('deep\n');
    }
  });

  it('names the missing program when the system cannot decompress bzip2', async () => {
    const work = path.join(root, 'work');
    mkdirSync(work);
    writeFileSync(path.join(work, 'hello.js'), CODE);
    execFileSync('tar', ['-cjf', path.join(root, 'code.tbz'), '-C', work, 'hello.js']);
    writeFileSync(path.join(src, 'hello'), readFileSync(path.join(root, 'code.tbz')).toString('base64'));
    const empty = path.join(root, 'empty-path');
    mkdirSync(empty);
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar' }, { path: empty });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bzip2 program is not installed');
  });

  it('rejects entries that leave the install directory, directly or through a link', async () => {
    const cases = [
      makeTar([{ name: '../evil.js', data: 'pwned' }]),
      makeTar([{ name: 'escape', type: '2', linkname: '../..' }, { name: 'escape/evil.js', data: 'pwned' }]),
      makeTar([{ name: 'abs', type: '2', linkname: root }]),
      // Each link on its own stays inside; followed together they reach the parent of the root.
      makeTar([{ name: 'here', type: '2', linkname: '.' }, { name: 'up', type: '2', linkname: 'here/..' }, { name: 'up/evil.js', data: 'pwned' }]),
    ];
    for (const archive of cases) {
      rmSync(install, { recursive: true, force: true });
      mkdirSync(install);
      writeFileSync(path.join(src, 'hello'), gzipSync(archive).toString('base64'));
      const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar' });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('KUBELESS_UNSAFE_PATH');
      expect(existsSync(path.join(root, 'evil.js'))).toBe(false);
      expect(listInstall().filter((f) => f.includes('evil'))).toEqual([]);
    }
  });

  it('rejects data that is not a tar archive, and a tar bomb over the extract limit', async () => {
    writeFileSync(path.join(src, 'hello'), gzipSync('just some text').toString('base64'));
    const notTar = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar' });
    expect(notTar.code).toBe(1);
    expect(notTar.stderr).toContain('not a valid tar archive');
    const bomb = gzipSync(makeTar([{ name: 'zeros', data: Buffer.alloc(3 * 1024 * 1024) }]));
    writeFileSync(path.join(src, 'hello'), bomb.toString('base64'));
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar', KUBELESS_MAX_EXTRACT_MB: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('KUBELESS_ARCHIVE_TOO_LARGE');
  });
});

describe.runIf(process.getuid?.() === 0)('prepare as a non-root user', () => {
  it('runs as uid 1000 writing only the install volume', async () => {
    const tgz = gzipSync(makeTar([{ name: 'hello.js', data: CODE }, { name: 'lib/util.js', data: '1' }]));
    writeFileSync(path.join(src, 'hello'), tgz.toString('base64'));
    chownSync(install, 1000, 1000);
    // Only the install volume is writable by uid 1000; the source is read-only to it.
    chmodSync(root, 0o755);
    chmodSync(src, 0o555);
    const r = await runPrepare({ FUNC_FILE: 'hello', FUNC_CONTENT_TYPE: 'base64+compressedtar', FUNC_CHECKSUM: sha256(tgz) }, { uid: 1000 });
    chmodSync(src, 0o755);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(path.join(install, 'lib/util.js')).uid).toBe(1000);
    expect(installed('hello.js')).toBe(CODE);
  });
});
