/**
 * `kubeless trigger cronjob create|update` and `function deploy --schedule` as the original took
 * them (as the original kubeless CLI did): the flags parsed by the real program (dry runs, no
 * cluster), the schedule checked with a message naming the field at fault, and the pure builders.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CronJobTrigger } from '@kubeless/api';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { App } from '../../src/app.js';
import { buildProgram } from '../../src/index.js';
import { buildCronJobTrigger, functionOwner, updateCronJobTrigger } from '../../src/trigger-spec.js';

/** The program with an App whose cluster only names the namespace: dry runs need no API server. */
async function run(args: string[]): Promise<{ out: string; error?: Error }> {
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const app: App = {
    env: {},
    out: sink,
    err: { write: () => true },
    version: '0.0.0',
    cluster: () => Promise.resolve({ namespace: (f: string | undefined) => f ?? 'team' } as never),
    close: () => undefined,
  };
  const program = buildProgram(app);
  program.exitOverride();
  for (const c of program.commands) c.exitOverride();
  try {
    await program.parseAsync(['node', 'kubeless', ...args]);
    return { out };
  } catch (error) {
    return { out, error: error as Error };
  }
}

describe('kubeless trigger cronjob create --dryrun', () => {
  it('the original flags: --function, --schedule, -p JSON payload', async () => {
    const r = await run(['trigger', 'cronjob', 'create', 'nightly', '--function', 'report', '--schedule', '0 2 * * *', '-p', '{"kind":"nightly","n":1}', '--dryrun']);
    expect(r.error).toBeUndefined();
    const t = parse(r.out) as CronJobTrigger;
    expect(t).toMatchObject({ apiVersion: 'kubeless.io/v1beta1', kind: 'CronJobTrigger', metadata: { name: 'nightly', namespace: 'team', labels: { 'created-by': 'kubeless' } } });
    expect(t.spec).toEqual({ 'function-name': 'report', schedule: '0 2 * * *', payload: { kind: 'nightly', n: 1 } });
  });

  it('-f/--payload-from-file reads a JSON file; with -p it is refused', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cron-'));
    const file = path.join(dir, 'payload.json');
    await writeFile(file, '[1, 2, 3]\n');
    const r = await run(['trigger', 'cronjob', 'create', 't', '--function', 'f', '--schedule', '@hourly', '-f', file, '--dryrun', '-o', 'json']);
    expect((JSON.parse(r.out) as CronJobTrigger).spec.payload).toEqual([1, 2, 3]);
    const both = await run(['trigger', 'cronjob', 'create', 't', '--function', 'f', '--schedule', '@hourly', '-f', file, '-p', '{}', '--dryrun']);
    expect(both.error?.message).toBe('set only one of -p/--payload and -f/--payload-from-file');
  });

  it('the new settings: --time-zone, --concurrency-policy, --starting-deadline-seconds, delivery', async () => {
    const r = await run(['trigger', 'cronjob', 'create', 't', '--function', 'f', '--schedule', '*/5 9-17 * * MON-FRI', '--time-zone', 'Europe/Paris', '--concurrency-policy', 'Forbid', '--starting-deadline-seconds', '30', '--retry', '1', '--backoff-delay', '2s', '--dryrun']);
    expect((parse(r.out) as CronJobTrigger).spec).toEqual({
      'function-name': 'f',
      schedule: '*/5 9-17 * * MON-FRI',
      timeZone: 'Europe/Paris',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 30,
      delivery: { retry: 1, backoffDelay: '2s' },
    });
  });

  it.each([
    [['--schedule', '* * *'], '--schedule: schedule "* * *" has 3 field(s): schedule must be five cron fields'],
    [['--schedule', '61 * * * *'], '--schedule: schedule "61 * * * *": the minute field "61" is not valid'],
    [['--schedule', '@every 1m'], '--schedule: @every is not supported'],
    [['--schedule', '* * * * *', '-p', '{not json'], '--payload: not valid JSON'],
    [['--schedule', '* * * * *', '--time-zone', 'Mars/Olympus'], '--time-zone: timeZone "Mars/Olympus" is not a known IANA time zone'],
    [['--schedule', '* * * * *', '--concurrency-policy', 'Sometimes'], '--concurrency-policy: "Sometimes" is not one of Allow, Forbid, Replace'],
    [[], '--schedule is required'],
  ])('refuses %j with a clear message', async (flags, message) => {
    const r = await run(['trigger', 'cronjob', 'create', 't', '--function', 'f', ...flags, '--dryrun']);
    expect(r.error?.message).toContain(message);
  });

  it('--function is required', async () => {
    expect((await run(['trigger', 'cronjob', 'create', 't', '--schedule', '* * * * *', '--dryrun'])).error?.message).toBe('--function is required');
  });
});

describe('kubeless function deploy --schedule --dryrun', () => {
  it('prints the function and a CronJobTrigger named like it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cron-'));
    const code = path.join(dir, 'get.py');
    await writeFile(code, 'def foo(event, context):\n    return "hi"\n');
    const r = await run(['function', 'deploy', 'scheduled-get-python', '--runtime', 'python3.11', '--handler', 'get.foo', '--from-file', code, '--schedule', '* * * * *', '--dryrun']);
    expect(r.error).toBeUndefined();
    const list = parseAllDocuments(r.out)[0]?.toJSON() as { items: { kind: string; metadata: { name: string }; spec: Record<string, unknown> }[] };
    expect(list.items.map((i) => `${i.kind}/${i.metadata.name}`)).toEqual(['Function/scheduled-get-python', 'CronJobTrigger/scheduled-get-python']);
    expect(list.items[1]?.spec).toEqual({ 'function-name': 'scheduled-get-python', schedule: '* * * * *' });
  });

  it('a bad --schedule fails before anything is sent', async () => {
    const r = await run(['function', 'deploy', 'f', '--runtime', 'python3.11', '--handler', 'a.b', '--schedule', '* * * * * *', '--dryrun']);
    expect(r.error?.message).toContain('has 6 field(s)');
  });
});

describe('the builders', () => {
  const owner = functionOwner({ metadata: { name: 'report', uid: 'u-1' } });
  it('create sets the function as owner, so deleting the function deletes the trigger', () => {
    const t = buildCronJobTrigger('t', 'team', { function: 'report', schedule: '@daily' }, owner);
    expect(t.metadata.ownerReferences).toEqual([{ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', name: 'report', uid: 'u-1' }]);
  });

  it('update changes only what is given; a new --function moves the owner; the payload is replaced whole', () => {
    const t = buildCronJobTrigger('t', 'team', { function: 'report', schedule: '@daily', payload: '{"a":1,"b":2}', retry: '2' }, owner);
    const stored = { ...structuredClone(t), metadata: { ...t.metadata, resourceVersion: '9' }, status: { lastScheduleTime: '2026-12-05T00:00:00Z' } };
    const next = updateCronJobTrigger(stored, { function: 'other', payload: '{"c":3}', backoffMax: '10s' }, functionOwner({ metadata: { name: 'other', uid: 'u-2' } }));
    expect(next.spec).toEqual({ 'function-name': 'other', schedule: '@daily', payload: { c: 3 }, delivery: { retry: 2, backoffMax: '10s' } });
    expect(next.metadata.ownerReferences).toEqual([{ apiVersion: 'kubeless.io/v1beta1', kind: 'Function', name: 'other', uid: 'u-2' }]);
    expect(next.metadata.resourceVersion).toBe('9');
    expect('status' in next).toBe(false);
    expect(updateCronJobTrigger(stored, { schedule: '0 * * * *' }).metadata.ownerReferences).toEqual(t.metadata.ownerReferences);
  });
});
