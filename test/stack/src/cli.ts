/**
 * The stack runner: `node test/stack/dist/cli.js up|down|status [--run-dir <dir>]`.
 * Use it through test/stack/stack.sh, which creates the network namespace and runs this inside.
 */
import { defaultRunDir } from './paths.js';
import { down, status, up } from './stack.js';

const argv = process.argv.slice(2);
const dirIdx = argv.indexOf('--run-dir');
const runDir = dirIdx >= 0 && argv[dirIdx + 1] ? (argv[dirIdx + 1] ?? defaultRunDir()) : defaultRunDir();
const report = (line: string): void => {
  process.stdout.write(`[stack] ${line}\n`);
};

async function main(cmd: string | undefined): Promise<number> {
  switch (cmd) {
    case 'up':
      await up(runDir, { report, allowHostNetns: argv.includes('--allow-host-netns') });
      return 0;
    case 'down': {
      const res = await down(runDir, { report });
      return res.stillListening.length > 0 ? 1 : 0;
    }
    case 'status': {
      const s = await status(runDir);
      for (const c of s.components) report(`${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.alive ? 'running' : 'DEAD'}`);
      for (const c of s.attached) report(`${c.name.padEnd(24)} pid ${String(c.pid).padEnd(8)} ${c.alive ? 'running' : 'exited'} (attached)`);
      report(`api server ${s.apiserverReady ? 'ready' : 'not ready'}; stack ${s.up ? 'up' : 'down'}`);
      if (s.env) for (const [k, v] of Object.entries(s.env)) report(`${k}=${v}`);
      return s.up ? 0 : 1;
    }
    default:
      process.stderr.write('usage: cli.js up|down|status [--run-dir <dir>]\n');
      return 2;
  }
}

try {
  process.exitCode = await main(argv[0]);
} catch (err) {
  process.stderr.write(`[stack] ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
