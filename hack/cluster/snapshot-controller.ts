/**
 * Volume snapshots in the cluster, as a distribution provides them: the snapshot.storage.k8s.io CRDs
 * and the snapshot controller, from the external-snapshotter module hack/build-tools.sh pinned
 * (its own manifests, read from the Go module cache), running the image hack/images built.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyObjects } from '../../lib/kube/apply.js';
import { waitForCrdsEstablished } from '../../lib/kube/crds.js';
import { readManifestFile } from '../../lib/kube/manifests.js';
import type { KubeClient } from '../../lib/kube/rest.js';
import { imageRef } from '../images/images.js';
import { REPO_ROOT } from '../tools.js';

const WRAPPER = join(REPO_ROOT, 'hack', 'tools', 'csi-snapshotter');
const SNAPSHOTTER = 'github.com/kubernetes-csi/external-snapshotter/v8';
const CLIENT = 'github.com/kubernetes-csi/external-snapshotter/client/v8';
const CRDS = ['volumesnapshotclasses', 'volumesnapshotcontents', 'volumesnapshots'];
const FIELD_MANAGER = 'kmesh-cluster';

/** The module's directory in the Go module cache (downloaded when building the sidecars). */
function moduleDir(module: string): string {
  const goMod = readFileSync(join(WRAPPER, 'go.mod'), 'utf8');
  const version = new RegExp(`${module.replaceAll('.', '\\.')} (v\\S+)`).exec(goMod)?.[1];
  if (!version) throw new Error(`${WRAPPER}/go.mod does not require ${module}`);
  const info = JSON.parse(
    execFileSync('go', ['mod', 'download', '-json', `${module}@${version}`], { cwd: WRAPPER, encoding: 'utf8' }),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no directory'}`);
  return info.Dir;
}

export async function installSnapshotController(client: KubeClient): Promise<void> {
  const crdDir = join(moduleDir(CLIENT), 'config', 'crd');
  const crds = (
    await Promise.all(CRDS.map((name) => readManifestFile(join(crdDir, `snapshot.storage.k8s.io_${name}.yaml`))))
  ).flat();
  await applyObjects(client, crds, FIELD_MANAGER);
  await waitForCrdsEstablished(
    client,
    crds.map((crd) => crd.metadata!.name!),
    30_000,
  );

  const deployDir = join(moduleDir(SNAPSHOTTER), 'deploy', 'kubernetes', 'snapshot-controller');
  const objects = [
    ...(await readManifestFile(join(deployDir, 'rbac-snapshot-controller.yaml'))),
    ...(await readManifestFile(join(deployDir, 'setup-snapshot-controller.yaml'))),
  ];
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue;
    // One node: one replica, ready at once, and only the image that is already there.
    const spec = object['spec'] as {
      replicas: number;
      minReadySeconds?: number;
      template: { spec: { containers: Array<{ image: string; imagePullPolicy: string }> } };
    };
    spec.replicas = 1;
    delete spec.minReadySeconds;
    for (const container of spec.template.spec.containers)
      Object.assign(container, { image: imageRef('snapshot-controller'), imagePullPolicy: 'Never' });
  }
  await applyObjects(client, objects, FIELD_MANAGER);
}
