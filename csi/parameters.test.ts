import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { parseParameters } from './parameters.js';

const NS = { 'csi.storage.k8s.io/pvc/namespace': 'ml', instance: 'dev' };

describe('StorageClass parameters', () => {
  it('binds to an existing DataFlow, sharing its root', () => {
    expect(parseParameters({ ...NS, dataFlow: 'ml-data', accessPoint: 'shared', 'csi.storage.k8s.io/pvc/name': 'data' })).toEqual({
      namespace: 'ml',
      instance: 'dev',
      dataFlow: 'ml-data',
      accessPoint: 'shared',
      policy: {},
    });
  });

  it('turns template keys into the policy of a DataFlow per volume', () => {
    expect(parseParameters({ namespace: 'ml', instance: 'dev', compression: 'zstd', encryption: 'aes-256-gcm', encryptionKeySecret: 'ml-key', dedup: 'false', deleteAfterUse: 'true' })).toEqual({
      namespace: 'ml',
      instance: 'dev',
      accessPoint: 'perVolume',
      policy: { compression: 'zstd', dedup: false, deleteAfterUse: true, encryption: { algorithm: 'aes-256-gcm', keySecretRef: { name: 'ml-key' } } },
    });
  });

  it.each([
    [{ ...NS, colour: 'blue', size: '1' }, 'unknown StorageClass parameters colour, size'],
    [{ instance: 'dev' }, 'parameter namespace is required'],
    [{ 'csi.storage.k8s.io/pvc/namespace': 'ml' }, 'parameter instance is required'],
    [{ ...NS, compression: 'brotli' }, 'parameter compression: "brotli" is not one of none, lz4, gzip, zstd'],
    [{ ...NS, encryption: 'aes-256-gcm' }, 'needs encryptionKeySecret'],
    [{ ...NS, encryptionKeySecret: 'k' }, 'encryptionKeySecret needs encryption'],
    [{ ...NS, dedup: 'yes' }, 'parameter dedup: "yes" is not one of true, false'],
    [{ ...NS, accessPoint: 'private' }, 'parameter accessPoint'],
    [{ ...NS, dataFlow: 'ml-data', compression: 'lz4' }, 'cannot be combined with dataFlow'],
    [{ ...NS, dataFlow: '../etc' }, 'parameter dataFlow: "../etc" is not a valid object name'],
    [{ ...NS, instance: 'Dev' }, 'parameter instance: "Dev"'],
    [{ ...NS, mode: 'sync' }, 'mode sync needs peers'],
  ])('refuses %j with INVALID_ARGUMENT: %s', (parameters, message) => {
    expect(() => parseParameters(parameters)).toThrow(expect.objectContaining({ code: status.INVALID_ARGUMENT, details: expect.stringContaining(message) }));
  });
});
