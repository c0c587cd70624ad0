/** Loading proto/csi.proto for the server (and for tests' clients). */
import { loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, protoFile } from '../lib/proto.js';
import type { ProtoGrpcType } from './generated/csi.js';

/**
 * The csi.v1 package. Field names keep the specification's snake_case; enums are their names;
 * int64 fields are JavaScript numbers (exact up to 2^53 bytes, 8 PiB, more than any one volume).
 * The message types per method are generated from the same file with the same loader options into
 * csi/generated/ (`npm run generate`); handlers take them through TypedHandlers (lib/grpc-service-types.ts).
 */
type CsiService = 'Identity' | 'Controller' | 'Node';

export function loadCsi(): {
  services: Record<CsiService, ServiceDefinition>;
  clients: Record<CsiService, ServiceClientConstructor>;
} {
  const csi = (
    loadPackageDefinition(loadSync(protoFile('csi.proto'), PROTO_LOADER_OPTIONS)) as unknown as ProtoGrpcType
  ).csi.v1;
  // Untyped here: tests and benchmarks call methods by name; the handlers are typed instead.
  const client = (name: CsiService): ServiceClientConstructor => csi[name] as unknown as ServiceClientConstructor;
  return {
    services: { Identity: csi.Identity.service, Controller: csi.Controller.service, Node: csi.Node.service },
    clients: { Identity: client('Identity'), Controller: client('Controller'), Node: client('Node') },
  };
}
