/**
 * The registry mirror's processes (mirror.ts), started by `npm run stack -- up`:
 *   node test/stack/dist/mirror/main.js serve --socket <path> --public http://<node ip>:<port>   (outside the namespace)
 *   node test/stack/dist/mirror/main.js bridge --socket <path> --listen <node ip>:<port>        (inside it)
 */
import { parseArgs } from 'node:util';
import { bridge, serve } from './mirror.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { socket: { type: 'string' }, public: { type: 'string' }, listen: { type: 'string' } },
});
const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
};
const socket = values.socket;
if (!socket) throw new Error('--socket is required');
let server: { close: () => void };
if (positionals[0] === 'serve') {
  if (!values.public) throw new Error('serve needs --public (the URL pods reach the mirror at)');
  server = await serve(socket, values.public, log);
  log(`mirror serving on ${socket} as ${values.public}`);
} else if (positionals[0] === 'bridge') {
  const [host, port] = (values.listen ?? '').split(':');
  if (!host || !port) throw new Error('bridge needs --listen host:port');
  server = await bridge(host, Number(port), socket);
  log(`bridge listening on ${host}:${port} to ${socket}`);
} else {
  throw new Error('usage: main.js serve|bridge --socket <path> ...');
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close();
    process.exit(0);
  });
}
