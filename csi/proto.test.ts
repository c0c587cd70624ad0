/**
 * Wire compatibility: every message, field and enum value in proto/csi.proto has the name, number
 * and type the CSI specification gives it. The specification's csi.proto comes from the Go module
 * of the version csi-sanity is built against (hack/tools/csi-sanity/go.mod).
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../hack/tools.js';

function specProtoPath(): string {
  const goMod = readFileSync(join(REPO_ROOT, 'hack/tools/csi-sanity/go.mod'), 'utf8');
  const version = /github\.com\/container-storage-interface\/spec (v[0-9.]+)/.exec(goMod)?.[1];
  if (!version) throw new Error('hack/tools/csi-sanity/go.mod does not require the CSI spec module');
  const modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  const path = join(modCache, `github.com/container-storage-interface/spec@${version}`, 'csi.proto');
  if (!existsSync(path))
    throw new Error(`${path} is missing: run npm run tools (it downloads the CSI spec module for csi-sanity)`);
  return path;
}

function load(path: string): protobuf.Root {
  const root = new protobuf.Root();
  const protobufjsDir = join(REPO_ROOT, 'node_modules/protobufjs');
  root.resolvePath = (origin, target) =>
    target.startsWith('google/protobuf/') ? join(protobufjsDir, target) : protobuf.util.path.resolve(origin, target);
  root.loadSync(path, { keepCase: true });
  root.resolveAll();
  return root;
}

/** Every message and enum under `namespace`, by full name. */
function types(namespace: protobuf.NamespaceBase): Array<protobuf.Type | protobuf.Enum> {
  return namespace.nestedArray.flatMap((nested) => {
    if (nested instanceof protobuf.Type) return [nested, ...types(nested)];
    if (nested instanceof protobuf.Enum) return [nested];
    if (nested instanceof protobuf.Namespace) return types(nested);
    return [];
  });
}

const ours = load(join(REPO_ROOT, 'proto/csi.proto'));
const spec = load(specProtoPath());

describe('proto/csi.proto', () => {
  const ourTypes = types(ours.lookup('csi.v1') as protobuf.Namespace).filter((t) => !t.fullName.startsWith('.google'));

  it.each(ourTypes.map((t) => [t.fullName, t] as const))('%s matches the specification', (name, ourType) => {
    const specType = spec.lookup(name);
    expect(specType).not.toBeNull();
    if (ourType instanceof protobuf.Enum) {
      expect((specType as protobuf.Enum).values).toEqual(ourType.values);
    } else {
      const fields = (type: protobuf.Type): Record<string, string> =>
        Object.fromEntries(
          Object.values(type.fields).map((f) => [
            f.name,
            `${f.id} ${f.repeated ? 'repeated ' : ''}${f instanceof protobuf.MapField ? `map<${f.keyType}>` : ''}${f.resolvedType?.fullName ?? f.type}`,
          ]),
        );
      const specFields = fields(specType as protobuf.Type);
      // Ours may leave out fields it does not use; those it has must match exactly.
      for (const [field, shape] of Object.entries(fields(ourType)))
        expect([field, shape]).toEqual([field, specFields[field]]);
    }
  });

  it.each((['Identity', 'Controller', 'Node'] as const).map((s) => [s]))(
    'service %s uses the specification method names and messages',
    (service) => {
      const ourService = ours.lookupService(`csi.v1.${service}`);
      const specService = spec.lookupService(`csi.v1.${service}`);
      for (const method of Object.values(ourService.methods)) {
        const specMethod = specService.methods[method.name];
        expect([method.name, method.requestType, method.responseType]).toEqual([
          method.name,
          specMethod?.requestType,
          specMethod?.responseType,
        ]);
      }
    },
  );
});
