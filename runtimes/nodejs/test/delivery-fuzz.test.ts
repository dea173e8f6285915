/**
 * Fuzz (issue 19): any Kafka key, header value and payload, built into an event and sent by the
 * triggers' own delivery code (`@kubeless/delivery`) to a real runtime process (Node.js and
 * Python, default settings), is delivered: no error of ours, retriable or not, for valid input;
 * and the function reads every key and header value back byte-exact with
 * `context.extensionBytes` / `context.extension_bytes`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveDelivery } from '@kubeless/api';
import { Deliverer, DeliveryClient, extensionName, isRepresentableTime, setBytesExtension, type DeliveryError, type EventInput } from '@kubeless/delivery';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, startRuntime, type Language, type RuntimeProcess } from './support/runtime-process.js';

const RUNS = 100;

const NODE_FN = `module.exports = {
  handler: (event, context) => {
    const ce = (event.extensions && event.extensions.cloudevent) || {};
    const out = {};
    for (const k of Object.keys(ce)) {
      if (k !== 'partitionkey' && k !== 'partitionkeyb64' && !k.startsWith('kafkaheader')) continue;
      const name = k.endsWith('b64') ? k.slice(0, -3) : k;
      out[name] = context.extensionBytes(event, name).toString('base64');
    }
    // One line per event on stdout: what the function read, for the test to compare.
    process.stdout.write('FUZZ ' + JSON.stringify({ id: event['event-id'], extensions: out }) + '\\n');
    return 'ok';
  },
};
`;

const PYTHON_FN = `import base64, json, sys

def handler(event, context):
    ce = (event.get('extensions') or {}).get('cloudevent') or {}
    out = {}
    for k in ce:
        if k not in ('partitionkey', 'partitionkeyb64') and not k.startswith('kafkaheader'):
            continue
        name = k[:-3] if k.endswith('b64') else k
        out[name] = base64.b64encode(context.extension_bytes(event, name)).decode('ascii')
    # One line per event on stdout: what the function read, for the test to compare.
    sys.stdout.write('FUZZ ' + json.dumps({'id': event.get('event-id'), 'extensions': out}) + '\\n')
    sys.stdout.flush()
    return 'ok'
`;

const tricky = fc.constantFrom('\r', '\n', '\r\n', '%', '%25', '%zz', '"', ' ', '\t', '\u0000', 'é', '\u00ff', '東京', '🚀', '\ufeff', 'b64');
const text = fc.array(fc.oneof(tricky, fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 10 }).map((parts) => Buffer.from(parts.join(''), 'utf8'));
const bytes = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b)) }, { weight: 4, arbitrary: text }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1500, maxLength: 3000 }).map((b) => Buffer.from(b)) });
const headerName = fc.oneof(fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,12}$/u), fc.constantFrom('X-Sig-B64', 'traceparent', 'Content-Encoding'));
const headers = fc.oneof(
  { weight: 5, arbitrary: fc.uniqueArray(fc.tuple(headerName, bytes), { maxLength: 12, selector: ([n]) => extensionName('kafkaheader', n) }) },
  { weight: 1, arbitrary: fc.uniqueArray(fc.tuple(headerName, bytes), { minLength: 60, maxLength: 100, selector: ([n]) => extensionName('kafkaheader', n) }) },
);
const record = fc.record({
  key: fc.option(bytes, { nil: null }),
  headers,
  payload: fc.oneof(fc.uint8Array({ maxLength: 4096 }).map((b) => Buffer.from(b)), text, fc.json().map((j) => Buffer.from(j, 'utf8'))),
  timestamp: fc.oneof(fc.integer({ min: 0, max: 253_402_300_799_999 }), fc.constantFrom(1.7e18, -1)),
  mode: fc.constantFrom('binary' as const, 'structured' as const),
});

function buildEvent(r: { key: Buffer | null; headers: [string, Buffer][]; payload: Buffer; timestamp: number }, offset: number): EventInput {
  const extensions: Record<string, string> = {};
  for (const [name, value] of r.headers) setBytesExtension(extensions, extensionName('kafkaheader', name), value);
  if (r.key) setBytesExtension(extensions, 'partitionkey', r.key);
  extensions.kafkapartition = '0';
  extensions.kafkaoffset = String(offset);
  if (!isRepresentableTime(r.timestamp)) extensions.kafkatimestamp = String(r.timestamp);
  // No content type from the record: the trigger detects it (JSON, UTF-8 text, else bytes).
  return { id: `partition:0/offset:${String(offset)}`, source: '/apis/v1/namespaces/fuzz/kafkatriggers/t#orders', type: 'io.kubeless.kafka.message', time: new Date(r.timestamp), data: r.payload, extensions, legacy: { namespace: 'kafkatriggers.kubeless.io', topic: 'orders' } };
}

for (const language of ['nodejs', 'python'] as Language[]) {
  describe(`fuzz: the triggers' delivery to the ${language} runtime`, () => {
    let rt: RuntimeProcess;
    let client: DeliveryClient;
    const deliverers = new Map<string, Deliverer>();

    beforeAll(async () => {
      if (language === 'nodejs') assertBuilt();
      const dir = mkdtempSync(path.join(tmpdir(), `kubeless-fuzz-${language}-`));
      writeFileSync(path.join(dir, language === 'nodejs' ? 'fuzz.js' : 'fuzz.py'), language === 'nodejs' ? NODE_FN : PYTHON_FN);
      rt = await startRuntime(language, { KUBELESS_INSTALL_VOLUME: dir, MOD_NAME: 'fuzz', FUNC_HANDLER: 'handler', FUNC_TIMEOUT: '10' });
      client = new DeliveryClient({ userAgent: 'kubeless-fuzz' });
      const resolver = { resolve: () => new URL(`${rt.url.replace(/\/$/u, '')}/`) };
      for (const mode of ['binary', 'structured'] as const) {
        deliverers.set(mode, new Deliverer({ client, resolver, target: { namespace: 'fuzz', name: 'fn' }, delivery: resolveDelivery({ eventMode: mode }, 10_000), maxEventBytes: 1 << 20, labels: { kind: 'kafka', namespace: 'fuzz', trigger: 't' } }));
      }
    }, 60_000);

    afterAll(async () => {
      await client.close();
      await rt.stop();
    });

    it(`delivers ${String(RUNS)} random records in both modes, each key and header byte-exact`, { timeout: 180_000 }, async () => {
      let offset = 0;
      await fc.assert(
        fc.asyncProperty(record, async (r) => {
          offset++;
          const event = buildEvent(r, offset);
          try {
            await deliverers.get(r.mode)?.attempt(event, 1);
          } catch (err) {
            const e = err as DeliveryError;
            throw new Error(`not delivered: ${e.code} (retriable ${String(e.retriable)}): ${e.message}`, { cause: err });
          }
          // What the function read, from its line on stdout.
          const seen = await readBack(rt, event.id);
          if (r.key) expect(Buffer.from(seen.extensions.partitionkey ?? '', 'base64').equals(r.key)).toBe(true);
          for (const [name, value] of r.headers) expect(Buffer.from(seen.extensions[extensionName('kafkaheader', name)] ?? '', 'base64').equals(value), name).toBe(true);
        }),
        { numRuns: RUNS },
      );
    });
  });
}

/** The function's line for event `id` (it prints one per event it handled). */
async function readBack(rt: RuntimeProcess, id: string): Promise<{ extensions: Record<string, string> }> {
  const deadline = Date.now() + 5000;
  for (;;) {
    for (const line of rt.stdout().split('\n')) {
      if (!line.startsWith('FUZZ ')) continue;
      const seen = JSON.parse(line.slice(5)) as { id: string; extensions: Record<string, string> };
      if (seen.id === id) return seen;
    }
    if (Date.now() > deadline) throw new Error(`the function printed nothing for ${id}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
