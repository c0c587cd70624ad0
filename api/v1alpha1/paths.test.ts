import { describe, expect, it } from '@jest/globals';
import type { KmeshInstance } from './generated/types.js';
import { accessPointProblem, localPathConflict, localRootsProblem, pathProblem, placeLocalPath } from './paths.js';

const ROOTS = ['/var/lib/kmesh', '/srv/kmesh'];

describe('paths', () => {
  it.each([
    ['relative', 'var/lib', /not an absolute path/],
    ['empty', '', /not an absolute path/],
    ['dot-dot', '/var/lib/kmesh/../../etc', /'\.' or '\.\.' segment/],
    ['dot', '/var/lib/kmesh/./a', /'\.' or '\.\.' segment/],
    ['double slash', '/var//lib', /empty segment/],
    ['trailing slash', '/var/lib/', /empty segment/],
    ['NUL byte', '/var/lib/kmesh/a\u0000b', /control character/],
    ['newline', '/var/lib/kmesh/a\nb', /control character/],
  ])('pathProblem refuses %s', (_, path, says) => {
    expect(pathProblem(path)).toMatch(says);
  });

  it.each(['/', '/a', '/var/lib/kmesh/a..b', '/a/.hidden'])('pathProblem accepts %s', (path) => {
    expect(pathProblem(path)).toBeUndefined();
  });

  it.each([
    ['/', /filesystem root/],
    ['/.kmesh', /Kmesh's own state/],
    ['/.kmesh/worker/ns/x', /Kmesh's own state/],
    ['/dataflows/../.kmesh', /'\.\.' segment/],
  ])('accessPointProblem refuses %s', (path, says) => {
    expect(accessPointProblem(path)).toMatch(says);
  });

  it.each(['/dataflows/a', '/.kmeshy', '/x/.kmesh'])('accessPointProblem accepts %s', (path) => {
    expect(accessPointProblem(path)).toBeUndefined();
  });

  it.each([
    ['/', /not below an allowed root; allowed: directories below \/var\/lib\/kmesh, \/srv\/kmesh/],
    ['/etc', /not below an allowed root/],
    ['/var/lib/kmesh', /not below an allowed root/],
    ['/var/lib/kmeshy', /not below an allowed root/],
    [
      '/var/lib/kmesh/../../etc',
      /spec\.backend\.local\.path "\/var\/lib\/kmesh\/\.\.\/\.\.\/etc" has a '\.' or '\.\.' segment/,
    ],
  ])('placeLocalPath refuses %s naming the field and the roots', (path, says) => {
    const placed = placeLocalPath(path, ROOTS);
    expect('problem' in placed && placed.problem).toMatch(says);
  });

  it('places a path below the deepest root that holds it', () => {
    expect(placeLocalPath('/var/lib/kmesh/a/b', ROOTS)).toEqual({ root: '/var/lib/kmesh', subPath: 'a/b' });
    expect(placeLocalPath('/var/lib/kmesh/a/b', [...ROOTS, '/var/lib/kmesh/a'])).toEqual({
      root: '/var/lib/kmesh/a',
      subPath: 'b',
    });
  });

  it.each([[['/']], [['relative']], [['/a/']]])('localRootsProblem refuses %j', (roots) => {
    expect(localRootsProblem(roots)).toBeDefined();
  });

  it('gives an overlapping directory to the older instance, in any namespace, on a shared node', () => {
    const instance = (name: string, path: string, created: string, nodeName?: string): KmeshInstance => ({
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'KmeshInstance',
      metadata: { name, namespace: `ns-${name}`, uid: name, creationTimestamp: created },
      spec: { backend: { type: 'local', local: { path, ...(nodeName ? { nodeName } : {}) } } },
    });
    const a = instance('a', '/var/lib/kmesh/a', '2026-01-01T00:00:00Z');
    const inside = instance('b', '/var/lib/kmesh/a/dataflows/x', '2026-01-02T00:00:00Z');
    const around = instance('c', '/var/lib/kmesh', '2026-01-02T00:00:00Z');
    expect(localPathConflict(inside, [a, inside], ROOTS)).toMatch(
      /overlaps \/var\/lib\/kmesh\/a of KmeshInstance ns-a\/a/,
    );
    expect(localPathConflict(a, [a, inside], ROOTS)).toBeUndefined();
    // A refused instance holds nothing, so it blocks no one.
    expect(localPathConflict(a, [around], ROOTS)).toBeUndefined();
    const elsewhere = instance('d', '/var/lib/kmesh/a', '2026-01-02T00:00:00Z', 'node-2');
    expect(
      localPathConflict(elsewhere, [instance('a', '/var/lib/kmesh/a', '2026-01-01T00:00:00Z', 'node-1')], ROOTS),
    ).toBeUndefined();
    expect(localPathConflict(elsewhere, [a], ROOTS)).toMatch(/overlaps/);
  });
});
