// Runtime benchmark (SPEC.md §10: the Node.js runtime at >= 80% of a bare node:http server's
// request rate for a hello handler). Each server runs in its own process under the same load from
// autocannon in this process: same connections, pipelining 1, same payload, a warm-up, then fixed
// measured windows, taken in turns over several rounds.
//
//   npm run bench:runtime                   (needs `npx tsc -b runtimes/nodejs` first)
//   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_CONNECTIONS=50 BENCH_ROUNDS=3 npm run bench:runtime
//
// The servers' stdout (one access log line per request for the runtimes) goes to a file, so each
// pays for its own log writes. Server CPU is the server process' user+system time over
// the measured window: near 100% means the server, not the load generator, was the limit.
import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import console from 'node:console';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, URL } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const durationS = Number(process.env.BENCH_DURATION ?? '10');
const warmupS = Number(process.env.BENCH_WARMUP ?? '3');
const connections = Number(process.env.BENCH_CONNECTIONS ?? '50');
const roundCount = Number(process.env.BENCH_ROUNDS ?? '3');
const payload = JSON.stringify({ hello: 'world' });
const shape = `POST ${payload.length} B application/json, ${connections} connections, pipelining 1, ${durationS} s windows after a ${warmupS} s warm-up`;

const nodeServer = path.join(repo, 'runtimes/nodejs/dist/server.js');
if (!existsSync(nodeServer)) {
  console.error(`${nodeServer} is missing: run \`npx tsc -b runtimes/nodejs\` first`);
  process.exit(1);
}

const install = mkdtempSync(path.join(tmpdir(), 'kubeless-bench-'));
writeFileSync(path.join(install, 'hello.js'), "module.exports = { hello: () => 'hello world' };\n");
writeFileSync(path.join(install, 'hello.py'), "def hello(event, context):\n    return 'hello world'\n");
const runtimeEnv = { KUBELESS_INSTALL_VOLUME: install, MOD_NAME: 'hello', FUNC_HANDLER: 'hello', FUNC_HOST: '127.0.0.1', FUNC_PORT: '0' };

const servers = [
  { name: 'bare node:http', command: process.execPath, args: [path.join(repo, 'test/bench/runtime-bare-server.js')], env: {} },
  { name: 'nodejs runtime', command: process.execPath, args: [nodeServer], env: runtimeEnv },
  { name: 'python runtime', command: 'python3', args: [path.join(repo, 'runtimes/python/kubeless.py')], env: runtimeEnv },
];

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // keep the usual Linux value
}

/** User + system CPU seconds of a process, from /proc (undefined elsewhere). */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

async function start(server) {
  // stdout goes to a file: the server pays for its own log writes, and no reader competes with the
  // load generator for the machine's cores.
  const logFile = path.join(install, `${server.name.replace(/[^a-z]+/g, '-')}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(server.command, server.args, { env: { PATH: process.env.PATH, ...server.env }, stdio: ['ignore', fd, 'inherit'] });
  closeSync(fd);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /listening on (http:\/\/[^\s]+)/.exec(readFileSync(logFile, 'utf8'));
    if (m) return { child, url: m[1], logFile };
    if (exited || Date.now() > deadline) throw new Error(`${server.name} did not start listening`);
    await sleep(50);
  }
}

/** Lines in the server's log (one per request for the runtimes). */
function logLines(logFile) {
  const text = readFileSync(logFile, 'utf8');
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

function load(url, seconds) {
  return autocannon({
    url: `${url}/`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: payload,
    connections,
    pipelining: 1,
    duration: seconds,
  });
}

/** One measured window: load for `seconds`, with the server's CPU share over the window. */
async function measure(server, running) {
  const cpuBefore = cpuSeconds(running.child.pid);
  const t0 = process.hrtime.bigint();
  const r = await load(running.url, durationS);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuAfter = cpuSeconds(running.child.pid);
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpuBefore) / wall) * 100;
  return { name: server.name, rps: r.requests.average, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors, cpu };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// All servers are started up front (an idle server costs nothing) and measured in turns, round
// after round: a change in the machine's background load then hits every server alike, and each
// round's ratios compare windows taken seconds apart.
const running = new Map();
const rounds = [];
try {
  for (const server of servers) running.set(server.name, await start(server));
  for (const server of servers) await load(running.get(server.name).url, warmupS);
  for (let i = 0; i < roundCount; i++) {
    const round = new Map();
    for (const server of servers) {
      const m = await measure(server, running.get(server.name));
      round.set(server.name, m);
      console.log(`round ${i + 1}/${roundCount} ${server.name}: ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, server cpu ${m.cpu?.toFixed(0) ?? '?'}%`);
    }
    rounds.push(round);
  }
  for (const server of servers) {
    const { logFile } = running.get(server.name);
    const total = rounds.reduce((sum, round) => sum + round.get(server.name).total, 0);
    console.log(`${server.name}: ${total} measured requests, ${logLines(logFile)} stdout lines (warm-up and start line included)`);
  }
} finally {
  for (const { child } of running.values()) {
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5000)]);
    child.kill('SIGKILL');
  }
  rmSync(install, { recursive: true, force: true });
}

const bareName = 'bare node:http';
console.log(`\nruntime benchmark: ${shape}, ${roundCount} rounds; hello handler; each server in its own process`);
console.log('figures are medians over the rounds; "vs bare" is the median of the per-round ratios\n');
console.log(['server'.padEnd(16), 'req/s'.padStart(9), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'cpu %'.padStart(6), 'vs bare'.padStart(8), '  load shape'].join(' '));
const summary = new Map();
for (const server of servers) {
  const ms = rounds.map((round) => round.get(server.name));
  const ratios = rounds.map((round) => round.get(server.name).rps / round.get(bareName).rps);
  const cpus = ms.map((m) => m.cpu).filter((c) => c !== undefined);
  const row = {
    rps: median(ms.map((m) => m.rps)),
    p50: median(ms.map((m) => m.p50)),
    p99: median(ms.map((m) => m.p99)),
    cpu: cpus.length > 0 ? median(cpus) : undefined,
    ratio: median(ratios),
    ratios,
    bad: ms.reduce((n, m) => n + m.non2xx + m.errors, 0),
  };
  summary.set(server.name, row);
  console.log(
    [
      server.name.padEnd(16),
      Math.round(row.rps).toString().padStart(9),
      row.p50.toFixed(2).padStart(8),
      row.p99.toFixed(2).padStart(8),
      (row.cpu === undefined ? '?' : row.cpu.toFixed(0)).padStart(6),
      (server.name === bareName ? '-' : `${(row.ratio * 100).toFixed(1)}%`).padStart(8),
      `  ${shape}${row.bad > 0 ? ` (${row.bad} non-2xx or errors)` : ''}`,
    ].join(' '),
  );
}
const node = summary.get('nodejs runtime');
console.log(`\nper-round nodejs/bare: ${node.ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(', ')}`);
console.log(`nodejs runtime / bare node:http = ${(node.ratio * 100).toFixed(1)}% (target >= 80%): ${node.ratio >= 0.8 ? 'PASS' : 'FAIL'}`);
process.exitCode = node.ratio >= 0.8 ? 0 : 1;
