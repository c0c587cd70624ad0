import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { namespaceOf, parseParameters } from './parameters.js';

const NS = { 'csi.storage.k8s.io/pvc/namespace': 'ml', instance: 'dev' };

describe('StorageClass parameters', () => {
  it('binds to an existing DataFlow, sharing its root', () => {
    expect(
      parseParameters({ ...NS, dataFlow: 'ml-data', accessPoint: 'shared', 'csi.storage.k8s.io/pvc/name': 'data' }),
    ).toEqual({
      namespace: 'ml',
      instance: 'dev',
      dataFlow: 'ml-data',
      accessPoint: 'shared',
      policy: {},
    });
  });

  it('turns template keys into the policy of a DataFlow per volume', () => {
    expect(
      parseParameters({
        namespace: 'ml',
        instance: 'dev',
        compression: 'zstd',
        encryption: 'aes-256-gcm',
        encryptionKeySecret: 'ml-key',
        dedup: 'false',
        deleteAfterUse: 'true',
      }),
    ).toEqual({
      namespace: 'ml',
      instance: 'dev',
      accessPoint: 'perVolume',
      policy: {
        compression: 'zstd',
        dedup: false,
        deleteAfterUse: true,
        encryption: { algorithm: 'aes-256-gcm', keySecretRef: { name: 'ml-key' } },
      },
    });
  });

  it('reads peers as a YAML list, which also allows the sync modes', () => {
    const peers =
      '- name: azure-west\n  endpoint: gw.azure-west.example.com:7443\n  direction: push\n  tlsSecretRef: {name: peer-tls}\n';
    expect(parseParameters({ ...NS, peers, mode: 'multiMaster' })).toMatchObject({
      mode: 'multiMaster',
      peers: [
        {
          name: 'azure-west',
          endpoint: 'gw.azure-west.example.com:7443',
          direction: 'push',
          tlsSecretRef: { name: 'peer-tls' },
        },
      ],
    });
  });

  it('leaves namespace and instance open for GetCapacity and topology to settle', () => {
    expect(parseParameters({})).toEqual({ accessPoint: 'perVolume', policy: {} });
  });

  it.each([
    [{ ...NS, colour: 'blue', size: '1' }, 'unknown StorageClass parameters colour, size'],
    [{ 'csi.storage.k8s.io/pvc/namespace': 'ml', dataFlow: 'ml-data' }, 'parameter dataFlow needs instance'],
    [{ ...NS, peers: 'azure-west' }, 'parameter peers must be a list'],
    [{ ...NS, peers: '[a: b' }, 'parameter peers is not YAML'],
    [{ ...NS, peers: '- name: x\n  endpoint: h:1\n' }, 'parameter peers[0].tlsSecretRef.name is required'],
    [{ ...NS, peers: '- endpoint: h:1\n' }, 'parameter peers[0].name is required'],
    [{ ...NS, dataFlow: 'ml-data', peers: '[]' }, 'cannot be combined with dataFlow'],
    [{ ...NS, compression: 'brotli' }, 'parameter compression: "brotli" is not one of none, lz4, gzip, zstd'],
    [{ ...NS, encryption: 'aes-256-gcm' }, 'needs encryptionKeySecret'],
    [{ ...NS, encryptionKeySecret: 'k' }, 'encryptionKeySecret needs encryption'],
    [{ ...NS, dedup: 'yes' }, 'parameter dedup: "yes" is not one of true, false'],
    [{ ...NS, accessPoint: 'private' }, 'parameter accessPoint'],
    [{ ...NS, dataFlow: 'ml-data', compression: 'lz4' }, 'cannot be combined with dataFlow'],
    [{ ...NS, dataFlow: '../etc' }, 'parameter dataFlow: "../etc" is not a valid object name'],
    [{ ...NS, instance: 'Dev' }, 'parameter instance: "Dev"'],
    [{ ...NS, mode: 'sync' }, 'mode sync needs peers'],
    [{ ...NS, mode: 'sync', peers: '[]' }, 'mode sync needs peers'],
  ])('refuses %j with INVALID_ARGUMENT: %s', (parameters, message) => {
    expect(() => parseParameters(parameters)).toThrow(
      expect.objectContaining({ code: status.INVALID_ARGUMENT, details: expect.stringContaining(message) }),
    );
  });

  it('asks for a namespace only where one is needed', () => {
    expect(() => namespaceOf(parseParameters({ instance: 'dev' }))).toThrow(
      expect.objectContaining({
        code: status.INVALID_ARGUMENT,
        details: expect.stringContaining('parameter namespace is required'),
      }),
    );
    expect(namespaceOf(parseParameters(NS))).toBe('ml');
  });
});
