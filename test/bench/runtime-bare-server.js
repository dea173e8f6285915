// The baseline of the runtime benchmark: a bare node:http server that reads the request body and
// answers "hello world". Prints its address, as the runtimes do, for test/bench/runtime.js.
import { createServer } from 'node:http';
import process from 'node:process';

const server = createServer((req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end('hello world');
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(`bare node:http server listening on http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
});
