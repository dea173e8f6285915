// Runtime benchmark: a hello handler on the Node.js and Python runtimes against a bare node:http
// server, each in its own process under the same autocannon load, windows taken in turns over
// rounds, for two request shapes (`get`, and `json`: a POST with a 17-byte body). What it
// measures, its target (the Node.js runtime at >= 90% of the bare server for `get`; exit 1 below
// it) and how to read it: docs/benchmarks.md#runtime.
//
//   npm run bench:runtime                   (needs `npx tsc -b runtimes/nodejs` first)
//   BENCH_SHAPES=get,json BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_CONNECTIONS=50 BENCH_ROUNDS=3 npm run bench:runtime
import autocannon from 'autocannon';
import console from 'node:console';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, URL } from 'node:url';
import { median } from './stats.mjs';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const durationS = Number(process.env.BENCH_DURATION ?? '10');
const warmupS = Number(process.env.BENCH_WARMUP ?? '3');
const connections = Number(process.env.BENCH_CONNECTIONS ?? '50');
const roundCount = Number(process.env.BENCH_ROUNDS ?? '3');
/** Gate per shape; shapes without one are information. */
const TARGETS = { get: 0.9 };
const machineLoad = () => loadavg().map((l) => l.toFixed(2)).join(', ');
console.log(`machine load average (1, 5, 15 min) before: ${machineLoad()}`);
const payload = JSON.stringify({ hello: 'world' });
const SHAPES = {
  get: { request: { method: 'GET' }, text: 'GET / (no body)' },
  json: { request: { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload }, text: `POST / ${payload.length} B application/json` },
};
const shapeNames = (process.env.BENCH_SHAPES ?? 'get,json').split(',').map((s) => s.trim());
for (const name of shapeNames) {
  if (!(name in SHAPES)) {
    console.error(`unknown shape ${name}: use ${Object.keys(SHAPES).join(', ')}`);
    process.exit(2);
  }
}
const loadText = (shape) => `${SHAPES[shape].text}, ${connections} connections, pipelining 1, ${durationS} s windows after a ${warmupS} s warm-up`;

const nodeServer = path.join(repo, 'runtimes/nodejs/dist/server.js');
if (!existsSync(nodeServer)) {
  console.error(`${nodeServer} is missing: run \`npx tsc -b runtimes/nodejs\` first`);
  process.exit(1);
}

const install = mkdtempSync(path.join(tmpdir(), 'kubeless-bench-'));
writeFileSync(path.join(install, 'hello.js'), "module.exports = { hello: () => 'hello world' };\n");
writeFileSync(path.join(install, 'hello.py'), "def hello(event, context):\n    return 'hello world'\n");
const runtimeEnv = { KUBELESS_INSTALL_VOLUME: install, MOD_NAME: 'hello', FUNC_HANDLER: 'hello', FUNC_HOST: '127.0.0.1', FUNC_PORT: '0' };

const BARE = 'bare node:http';
const NODE = 'nodejs runtime';
const servers = [
  { name: BARE, command: process.execPath, args: [path.join(repo, 'test/bench/runtime-bare-server.js')], env: {} },
  { name: NODE, command: process.execPath, args: [nodeServer], env: runtimeEnv },
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

function load(shape, url, seconds) {
  return autocannon({ url: `${url}/`, ...SHAPES[shape].request, connections, pipelining: 1, duration: seconds });
}

/** One measured window, with the server's CPU share over it. */
async function measure(shape, running) {
  const cpuBefore = cpuSeconds(running.child.pid);
  const t0 = process.hrtime.bigint();
  const r = await load(shape, running.url, durationS);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuAfter = cpuSeconds(running.child.pid);
  const cpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : ((cpuAfter - cpuBefore) / wall) * 100;
  return { rps: r.requests.average, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors + r.timeouts, cpu };
}

// All servers are started up front (an idle server costs nothing) and measured in turns, round
// after round: a change in the machine's background load then hits every server alike, and each
// round's ratio compares windows taken seconds apart.
const running = new Map();
const results = new Map();
try {
  for (const server of servers) running.set(server.name, await start(server));
  for (const shape of shapeNames) {
    for (const server of servers) await load(shape, running.get(server.name).url, warmupS);
    const rounds = [];
    for (let i = 0; i < roundCount; i++) {
      const round = new Map();
      for (const server of servers) {
        const m = await measure(shape, running.get(server.name));
        round.set(server.name, m);
        console.log(`${shape} round ${i + 1}/${roundCount} ${server.name}: ${Math.round(m.rps)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, server cpu ${m.cpu?.toFixed(0) ?? '?'}%`);
      }
      rounds.push(round);
    }
    results.set(shape, rounds);
  }
  for (const server of servers) {
    const total = [...results.values()].flat().reduce((sum, round) => sum + round.get(server.name).total, 0);
    console.log(`${server.name}: ${total} measured requests, ${logLines(running.get(server.name).logFile)} stdout lines (warm-ups and the start line included)`);
  }
} finally {
  for (const { child } of running.values()) {
    child.kill('SIGTERM');
    await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(5000)]);
    child.kill('SIGKILL');
  }
  rmSync(install, { recursive: true, force: true });
}

console.log(`machine load average (1, 5, 15 min) after: ${machineLoad()}`);
let pass = true;
for (const [shape, rounds] of results) {
  console.log(`\n${shape}: ${loadText(shape)}, ${roundCount} rounds; hello handler; each server in its own process`);
  console.log('figures are medians over the rounds; "vs bare" is the median of the per-round ratios');
  console.log(['server'.padEnd(16), 'req/s'.padStart(9), 'p50 ms'.padStart(8), 'p99 ms'.padStart(8), 'cpu %'.padStart(6), 'vs bare'.padStart(8), '  load shape'].join(' '));
  for (const server of servers) {
    const ms = rounds.map((round) => round.get(server.name));
    const ratio = median(rounds.map((round) => round.get(server.name).rps / round.get(BARE).rps));
    const cpus = ms.map((m) => m.cpu).filter((c) => c !== undefined);
    const bad = ms.reduce((n, m) => n + m.bad, 0);
    console.log(
      [
        server.name.padEnd(16),
        Math.round(median(ms.map((m) => m.rps))).toString().padStart(9),
        median(ms.map((m) => m.p50)).toFixed(2).padStart(8),
        median(ms.map((m) => m.p99)).toFixed(2).padStart(8),
        (cpus.length > 0 ? median(cpus).toFixed(0) : '?').padStart(6),
        (server.name === BARE ? '-' : `${(ratio * 100).toFixed(1)}%`).padStart(8),
        `  ${loadText(shape)}${bad > 0 ? ` (${bad} non-2xx, errors or timeouts)` : ''}`,
      ].join(' '),
    );
  }
  const ratios = rounds.map((round) => round.get(NODE).rps / round.get(BARE).rps);
  const ratio = median(ratios);
  const target = TARGETS[shape];
  if (target !== undefined) pass &&= ratio >= target;
  console.log(`per-round nodejs/bare: ${ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(', ')}`);
  const verdict = target === undefined ? '(information, no target)' : `(target >= ${target * 100}%): ${ratio >= target ? 'PASS' : 'FAIL'}`;
  console.log(`${shape}: nodejs runtime / bare node:http = ${(ratio * 100).toFixed(1)}% ${verdict}`);
}
process.exitCode = pass ? 0 : 1;
