/**
 * Files the Helm chart carries as copies of their one source, written by `npm run generate`
 * (hack/gen-api.ts) and checked by the chart test: the CRDs (generated from api/) into
 * charts/kmesh/crds/, and the RBAC rules the operator and CSI tests run under into
 * charts/kmesh/files/rbac/, so the chart grants exactly what was tested. Helm reads no file
 * outside the chart's directory, hence the copies.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crdPath, generatedFiles, type GeneratedFile } from '../api/generate.js';
import { KINDS } from '../api/v1alpha1/index.js';
import { REPO_ROOT } from './tools.js';

export const CHART_DIR = 'charts/kmesh';

const RBAC: Record<string, string> = {
  'operator-cluster-role.yaml': 'operator/rbac/cluster-role.yaml',
  'operator-leader-election-role.yaml': 'operator/rbac/leader-election-role.yaml',
  'csi-controller-cluster-role.yaml': 'csi/rbac/controller-cluster-role.yaml',
  'csi-node-cluster-role.yaml': 'csi/rbac/node-cluster-role.yaml',
  'csi-node-role.yaml': 'csi/rbac/node-role.yaml',
};

export function chartFiles(): GeneratedFile[] {
  const generated = new Map(generatedFiles().map((f) => [f.path, f.content]));
  const crds = KINDS.map((def) => {
    const source = crdPath(def.plural);
    return { path: join(CHART_DIR, 'crds', source.split('/').pop()!), content: generated.get(source)! };
  });
  const rbac = Object.entries(RBAC).map(([name, source]) => ({
    path: join(CHART_DIR, 'files', 'rbac', name),
    content: `# Copied from ${source} by hack/gen-api.ts. DO NOT EDIT.\n${readFileSync(join(REPO_ROOT, source), 'utf8')}`,
  }));
  return [...crds, ...rbac];
}
