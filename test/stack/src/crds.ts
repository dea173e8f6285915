import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { apiGet, apiRequest, type ComponentContext } from './components.js';
import { waitFor } from './wait.js';

/**
 * Applies every CRD in `dir` by server-side apply (field manager `kubeless-stack`) and waits
 * until each is Established, so its kinds can be used at once.
 */
export async function installCrds(ctx: Pick<ComponentContext, 'pkiDir' | 'ports'>, dir: string): Promise<string[]> {
  const names: string[] = [];
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    const crd = parse(await readFile(path.join(dir, file), 'utf8')) as { metadata: { name: string } };
    const name = crd.metadata.name;
    const res = await apiRequest(
      ctx,
      'PATCH',
      `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}?fieldManager=kubeless-stack&force=true`,
      { contentType: 'application/apply-patch+yaml', data: JSON.stringify(crd) },
    );
    if (res.status >= 300) throw new Error(`applying CRD ${name} failed (${String(res.status)}): ${res.body}`);
    names.push(name);
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} Established`,
      async () => {
        const res = await apiGet(ctx, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
        const crd = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  }
  return names;
}
