/**
 * EventRecorder against the real API server: an Event names the object it is about
 * (involvedObject), and repeats of one (object, type, reason, message) bump that Event's count
 * instead of creating another, as client-go's correlator does, even when they come at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, withNamespace } from '@kubeless/stack';
import { EventRecorder, type KubeObject } from '../../src/index.js';
import { adminClient } from './kit.js';

type Event = KubeObject & {
  involvedObject?: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  source?: { component?: string };
  reportingComponent?: string;
  reportingInstance?: string;
};

const client = adminClient('kubeless-kit-test/events');
let ns: { name: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  ns = await withNamespace('kit-events');
});
afterAll(async () => {
  await ns.cleanup();
  client.close();
});

async function subject(name: string): Promise<KubeObject> {
  return client.create(`/api/v1/namespaces/${ns.name}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name } });
}

async function eventsAbout(obj: KubeObject): Promise<Event[]> {
  const list = await client.list<Event>(`/api/v1/namespaces/${ns.name}/events`, { fieldSelector: `involvedObject.uid=${obj.metadata?.uid ?? ''}` });
  return list.items;
}

describe('EventRecorder', () => {
  it('records an Event about the object, with its reason, type and reporter', async () => {
    const recorder = new EventRecorder(client, { component: 'kit-test', instance: 'kit-test-0' });
    const cm = { ...(await subject('about')), apiVersion: 'v1', kind: 'ConfigMap' };
    recorder.record(cm, 'Warning', 'SomethingOff', 'the thing is off');
    const [ev, ...rest] = await eventually('the Event', async () => {
      const evs = await eventsAbout(cm);
      return evs.length > 0 && evs;
    });
    expect(rest).toEqual([]);
    expect(ev?.involvedObject).toMatchObject({ apiVersion: 'v1', kind: 'ConfigMap', name: 'about', namespace: ns.name, uid: cm.metadata?.uid });
    expect(ev).toMatchObject({ reason: 'SomethingOff', message: 'the thing is off', type: 'Warning', count: 1, source: { component: 'kit-test' }, reportingComponent: 'kit-test', reportingInstance: 'kit-test-0' });
  });

  it('bumps the count of one Event for repeats, and creates another for a new message', async () => {
    const recorder = new EventRecorder(client, { component: 'kit-test' });
    const cm = { ...(await subject('repeats')), apiVersion: 'v1', kind: 'ConfigMap' };
    recorder.record(cm, 'Normal', 'Synced', 'all good');
    await eventually('the first Event', async () => (await eventsAbout(cm)).length === 1 || undefined);
    recorder.record(cm, 'Normal', 'Synced', 'all good');
    recorder.record(cm, 'Normal', 'Synced', 'all good');
    await eventually('count 3', async () => (await eventsAbout(cm)).find((e) => e.count === 3) ?? undefined);
    recorder.record(cm, 'Normal', 'Synced', 'something else');
    await eventually('two Events', async () => (await eventsAbout(cm)).length === 2 || undefined);
    const byMessage = Object.fromEntries((await eventsAbout(cm)).map((e) => [e.message, e.count]));
    expect(byMessage).toEqual({ 'all good': 3, 'something else': 1 });
  });

  it('keeps one Event for repeats recorded before the first one was created (a retry 5 ms later)', async () => {
    const recorder = new EventRecorder(client, { component: 'kit-test' });
    const cm = { ...(await subject('burst')), apiVersion: 'v1', kind: 'ConfigMap' };
    for (let i = 0; i < 3; i++) recorder.record(cm, 'Warning', 'ApiConflict', 'the object changed');
    const evs = await eventually('three recorded', async () => {
      const found = await eventsAbout(cm);
      return found.reduce((n, e) => n + (e.count ?? 0), 0) === 3 && found;
    });
    expect(evs.map((e) => e.count)).toEqual([3]);
  });
});
