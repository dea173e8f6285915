/**
 * The stack's image registry process (registry.ts), started by `npm run stack -- up` inside the
 * stack's network namespace: `node test/stack/dist/registry/main.js --dir <images> --listen 127.0.0.1:<port>`.
 */
import { parseArgs } from 'node:util';
import { indexArchives, registryServer } from './registry.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, listen: { type: 'string' } } });
const [host, port] = (values.listen ?? '').split(':');
if (!values.dir || !host || !port) throw new Error('usage: main.js --dir <image archives> --listen <host>:<port>');
const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};
const index = await indexArchives(values.dir);
const server = registryServer(index, log);
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(port), host, resolve);
});
log(`registry serving ${String(index.refs.size)} images (${[...index.refs.keys()].join(', ')}) on ${host}:${port}`);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    process.exit(0);
  });
}
