import { describe, expect, it } from 'vitest';
import { detectContentType, isJsonType } from '../src/index.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('detectContentType', () => {
  it.each([['{"a":1}'], ['  \n{"nested":{"b":[1,2]}}'], ['[1,2,3]'], ['[]'], ['"a json string"']])('%j is JSON', (s) => {
    expect(detectContentType(bytes(s))).toBe('application/json');
  });

  it.each([['{not json'], ['[1,2'], ['"unterminated'], ['hello world'], ['42'], ['true'], ['héllo wörld ✓']])('%j is UTF-8 text', (s) => {
    expect(detectContentType(bytes(s))).toBe('text/plain; charset=utf-8');
  });

  it('calls invalid UTF-8 binary', () => {
    expect(detectContentType(new Uint8Array([0xff, 0xfe, 0x00, 0x01]))).toBe('application/octet-stream');
    expect(detectContentType(new Uint8Array([0x7b, 0xc3]))).toBe('application/octet-stream'); // "{" then a cut sequence
  });

  it('calls an empty payload octet-stream', () => {
    expect(detectContentType(new Uint8Array(0))).toBe('application/octet-stream');
  });

  it('reads a view at its own offset, not the whole backing buffer', () => {
    const backing = bytes('xx{"a":1}yy');
    expect(detectContentType(backing.subarray(2, 9))).toBe('application/json');
  });
});

describe('isJsonType', () => {
  it.each(['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/cloudevents+json', 'application/vnd.api+json'])('%s is JSON', (t) => {
    expect(isJsonType(t)).toBe(true);
  });
  it.each(['text/plain', 'application/octet-stream', 'application/jsonx', 'text/json-ish', 'application/x-ndjson'])('%s is not JSON', (t) => {
    expect(isJsonType(t)).toBe(false);
  });
});
