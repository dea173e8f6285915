import { describe, expect, it } from 'vitest';
import { installEnv, rewriteLinks, upstreamOf } from '../../src/mirror/mirror.js';

describe('the registry mirror', () => {
  it.each([
    ['/npm/is-number', 'https://registry.npmjs.org/is-number'],
    ['/npm/@scope%2fpkg', 'https://registry.npmjs.org/@scope%2fpkg'],
    ['/npm/is-number/-/is-number-7.0.0.tgz', 'https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz'],
    ['/pypi/simple/six/', 'https://pypi.org/simple/six/'],
    ['/pypi-files/packages/ab/cd/six-1.16.0-py2.py3-none-any.whl', 'https://files.pythonhosted.org/packages/ab/cd/six-1.16.0-py2.py3-none-any.whl'],
  ])('maps %s to its upstream', (p, want) => {
    expect(upstreamOf(p)).toBe(want);
  });

  it.each(['/', '/etc/passwd', '/github/x', '/npm/../../etc/passwd', '//evil.example/x', '/npm@evil.example/x'])('serves nothing else: %s', (p) => {
    expect(upstreamOf(p)).toBeUndefined();
  });

  it("rewrites npm tarball URLs and PyPI's file links to the mirror, keeping hashes", () => {
    const npm = JSON.stringify({ versions: { '7.0.0': { dist: { tarball: 'https://registry.npmjs.org/is-number/-/is-number-7.0.0.tgz' } } } });
    expect(rewriteLinks(npm, 'http://10.240.0.1:3128/')).toContain('"http://10.240.0.1:3128/npm/is-number/-/is-number-7.0.0.tgz"');
    const html = '<a href="https://files.pythonhosted.org/packages/x/six.whl#sha256=abc">six</a>';
    expect(rewriteLinks(html, 'http://10.240.0.1:3128')).toBe('<a href="http://10.240.0.1:3128/pypi-files/packages/x/six.whl#sha256=abc">six</a>');
  });

  it('points npm and pip at the mirror, trusting its host for plain HTTP', () => {
    expect(installEnv('http://10.240.0.1:3128/')).toEqual({
      NPM_REGISTRY: 'http://10.240.0.1:3128/npm/',
      PIP_INDEX_URL: 'http://10.240.0.1:3128/pypi/simple/',
      PIP_TRUSTED_HOST: '10.240.0.1',
    });
  });
});
