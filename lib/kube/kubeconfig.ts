/**
 * A person's kubeconfig, read by @kubernetes/client-node's KubeConfig: every way a kubeconfig user
 * authenticates works, including the `exec` and `auth-provider` plugins EKS, GKE and AKS
 * kubeconfigs use (the plugin runs again when its credential expires). Costs about 80 MB of
 * memory, so components running in a pod take the lean in-cluster path of credentials.ts instead,
 * which loads this module only when a kubeconfig is asked for.
 */
import { KubeConfig } from '@kubernetes/client-node';

/**
 * The kubeconfig at `path` (else $KUBECONFIG, whose files are merged, else ~/.kube/config), at its
 * current context or `context` (a CredentialSource, credentials.ts). Throws naming the file and context when there is no cluster to talk to.
 */
export function kubeconfigCredentials(path?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  const where = path ?? (process.env['KUBECONFIG'] ? `$KUBECONFIG (${process.env['KUBECONFIG']})` : '~/.kube/config');
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault({}, false);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`, { cause: error });
  }
  if (context !== undefined) {
    if (!kc.getContextObject(context)) throw new Error(`${where}: no context "${context}"`);
    kc.setCurrentContext(context);
  }
  const name = kc.getCurrentContext();
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new Error(`${where}: context "${name}" names no cluster with a server`);
  return kc;
}
