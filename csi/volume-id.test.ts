import { describe, expect, it } from '@jest/globals';
import { formatVolumeId, InvalidVolumeId, parseVolumeId } from './volume-id.js';

describe('volume IDs', () => {
  it.each([
    ['v1/ml/aws-east/ml-data', { namespace: 'ml', instance: 'aws-east', dataFlow: 'ml-data', subPath: '' }],
    [
      'v1/ml/aws-east/pvc-1f2e/shared/models',
      { namespace: 'ml', instance: 'aws-east', dataFlow: 'pvc-1f2e', subPath: 'shared/models' },
    ],
    ['v1/a/site.b/df.c/x_y-1.z', { namespace: 'a', instance: 'site.b', dataFlow: 'df.c', subPath: 'x_y-1.z' }],
    [
      'v1/ml/dev/shared/@0123456789abcdef0123',
      { namespace: 'ml', instance: 'dev', dataFlow: 'shared', subPath: '', tag: '0123456789abcdef0123' },
    ],
    [
      'v1/ml/dev/copy:pvc-9/volumes/a',
      { namespace: 'ml', instance: 'dev', dataFlow: '', virtualCopy: 'pvc-9', subPath: 'volumes/a' },
    ],
  ])('parses %s and formats it back', (id, ref) => {
    expect(parseVolumeId(id)).toEqual(ref);
    expect(formatVolumeId(ref)).toBe(id);
  });

  it.each([
    ['', /is empty/],
    ['some-volume', /is not a csi.kmesh.io volume ID/],
    ['v2/ml/aws-east/ml-data', /must start with "v1\/"/],
    ['v1/ml/aws-east', /DataFlow "", which is not a DNS subdomain/],
    ['v1/ML/aws-east/ml-data', /namespace "ML", which is not a DNS label/],
    ['v1/ml/aws_east/ml-data', /instance "aws_east"/],
    ['v1/ml/aws-east/ml-data/../../etc', /has a "\.\." path segment/],
    ['v1/ml/aws-east/../ml-data', /DataFlow "\.\."/],
    ['v1/ml/aws-east/ml-data/./x', /has a "\." path segment/],
    ['v1/ml/aws-east/ml-data//etc', /empty path segment/],
    ['v1/ml/aws-east/ml-data/x/', /empty path segment/],
    ['v1/ml/aws-east/copy:', /VirtualCopy "", which is not a DNS subdomain/],
    ['v1/ml/aws-east/copy:../x', /VirtualCopy "\.\."/],
    ['v1/ml/aws-east/clone:x', /DataFlow "clone:x"/],
    ['v1/ml/aws-east/ml-data/.hidden', /path segment "\.hidden"/],
    ['v1/ml/aws-east/ml-data/a b', /path segment "a b"/],
    ['v1/ml/aws-east/ml-data/@xyz', /path segment "@xyz"/],
    ['v1/ml/aws-east/ml-data/@0123456789/models', /path segment "@0123456789"/],
    ['v1/ml/aws-east/ml-data/\u0000', /path segment/],
    [`v1/ml/aws-east/ml-data/${'a'.repeat(120)}`, /longer than 128 bytes/],
    [`v1/ml/aws-east/ml-data/${'é'.repeat(60)}`, /longer than 128 bytes/], // bytes, not characters
    ['/v1/ml/aws-east/ml-data', /must start with "v1\/"/],
    ['v1/ml/aws-east/ml-data/a\u0000b', /path segment "a.b"/],
    ['v1/ml/aws-east/ml\u0000data', /DataFlow "ml.data"/],
    ['v1/ml/aws-east/ml-data/etc/..', /has a "\.\." path segment/],
    ['v1/ml/aws-east/ml-data/%2e%2e/etc', /path segment "%2e%2e"/],
  ])('refuses %j: %s', (id, reason) => {
    expect(() => parseVolumeId(id)).toThrow(InvalidVolumeId);
    expect(() => parseVolumeId(id)).toThrow(reason);
  });

  it('refuses to format an ID that would be too long', () => {
    expect(() =>
      formatVolumeId({ namespace: 'n', instance: 'i'.repeat(60), dataFlow: 'd'.repeat(60), subPath: 'more' }),
    ).toThrow(/longer than 128 bytes/);
  });
});
