/**
 * Starts one real control plane (etcd, kube-apiserver, kube-controller-manager) for the whole
 * integration run and hands its kubeconfig to the test workers through KUBECONFIG.
 * Set KMESH_TEST_KUBECONFIG to run against a cluster you already have (e.g. `npm run cluster:up`).
 */
import { killControlPlaneSync, startControlPlane, stopControlPlane } from '../../hack/control-plane/control-plane.js';

declare global {
  // Read by teardown(), which jest runs in this same process.
  var kmeshControlPlaneDir: string | undefined;
}

export async function setup(): Promise<void> {
  const existing = process.env['KMESH_TEST_KUBECONFIG'];
  if (existing) {
    process.env['KUBECONFIG'] = existing;
    return;
  }
  const state = await startControlPlane();
  globalThis.kmeshControlPlaneDir = state.workDir;
  // If jest dies without running the teardown, do not leave processes or files behind.
  process.once('exit', () => killControlPlaneSync(state.workDir));
  process.env['KUBECONFIG'] = state.kubeconfigPath;
  const t = state.timings;
  console.log(
    `\ncontrol plane ready in ${t.totalMs} ms (etcd ${t.etcdReadyMs} ms, kube-apiserver ${t.apiServerReadyMs} ms, ` +
      `kube-controller-manager ${t.controllerManagerReadyMs ?? '-'} ms) at ${state.apiServerUrl}`,
  );
}

/** Stops the control plane `setup` started and removes its directory, whatever the tests did. */
export async function teardown(): Promise<void> {
  const dir = globalThis.kmeshControlPlaneDir;
  if (dir) await stopControlPlane(dir);
}
