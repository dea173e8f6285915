import { describe, expect, it } from 'vitest';
import { parseEnv, parseIntFlag, parseKeyValues, parseList, parseQuantity, parseSelector, parseWaitTimeout, parseGoDuration } from '../../src/parse.js';

describe('flag parsers', () => {
  it('KEY=VAL lists: commas, repeats, = or :, values with commas and colons', () => {
    expect(parseKeyValues('label', ['foo=bar,bar=baz', 'x:y'])).toEqual({ foo: 'bar', bar: 'baz', x: 'y' });
    expect(parseKeyValues('label', ['a=1', 'a=2'])).toEqual({ a: '2' });
    expect(parseEnv(['URL=http://h:1/p,LIST=a,b', 'E='])).toEqual([
      { name: 'URL', value: 'http://h:1/p' },
      { name: 'LIST', value: 'a,b' },
      { name: 'E', value: '' },
    ]);
    expect(() => parseKeyValues('label', ['=x'])).toThrow('--label: "=x" has no key (KEY=VALUE, KEY:VALUE or KEY)');
    expect(() => parseSelector('function-selector', '')).toThrow('--function-selector: empty selector');
  });

  it("takes the original CLI's spellings: k:v, k=v and a bare key (empty value) in one list", () => {
    // The original's own example (kubeless function deploy --help): cobra split on every comma.
    expect(parseKeyValues('label', ['foo:bar,bar=foo,foobar'])).toEqual({ foo: 'bar', bar: 'foo', foobar: '' });
    expect(parseKeyValues('node-selectors', ['kubernetes.io/hostname:node-1,disktype'])).toEqual({ 'kubernetes.io/hostname': 'node-1', disktype: '' });
    expect(parseKeyValues('label', ['novalue'])).toEqual({ novalue: '' });
    expect(parseEnv(['foo:bar,bar=foo'])).toEqual([
      { name: 'foo', value: 'bar' },
      { name: 'bar', value: 'foo' },
    ]);
    expect(parseEnv(['FLAG'])).toEqual([{ name: 'FLAG', value: '' }]);
    // Env values may hold commas (an extension): only a comma before another KEY= or KEY: splits.
    expect(parseEnv(['OPTS=-a,-b,X=1'])).toEqual([
      { name: 'OPTS', value: '-a,-b' },
      { name: 'X', value: '1' },
    ]);
    // Label values cannot hold commas: every comma splits there.
    expect(parseKeyValues('label', ['a=1,b'])).toEqual({ a: '1', b: '' });
  });

  it('lists, integers, quantities and durations', () => {
    expect(parseList(['a, b', 'c,'])).toEqual(['a', 'b', 'c']);
    expect(parseIntFlag('port', '8080', 1, 65535)).toBe(8080);
    expect(() => parseIntFlag('port', '70000', 1, 65535)).toThrow('--port: 70000 is out of range [1, 65535]');
    expect(() => parseIntFlag('min', '1.5')).toThrow('--min: "1.5" is not an integer');
    for (const q of ['128Mi', '0.5', '250m', '1e3', '2G']) expect(parseQuantity('memory', q)).toBe(q);
    expect(() => parseQuantity('memory', '128 MB')).toThrow('not a resource quantity');
    expect(parseWaitTimeout('wait-timeout', '90')).toBe(90_000);
    expect(parseWaitTimeout('wait-timeout', '1m30s')).toBe(90_000);
    expect(parseWaitTimeout('wait-timeout', '250ms')).toBe(250);
    expect(() => parseWaitTimeout('wait-timeout', 'soon')).toThrow('--wait-timeout: "soon" is not a duration');
    expect(parseGoDuration('backoff-delay', '500ms')).toBe('500ms');
    expect(() => parseGoDuration('backoff-delay', '5 s')).toThrow('--backoff-delay');
  });
});
