/** Loading proto/csi.proto for the server (and for tests' clients). */
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoFile } from '../lib/proto.js';

/**
 * The csi.v1 package. Field names keep the specification's snake_case; enums are their names;
 * int64 fields are JavaScript numbers (exact up to 2^53 bytes, 8 PiB, more than any one volume).
 */
type CsiService = 'Identity' | 'Controller' | 'Node';

export function loadCsi(): { services: Record<CsiService, ServiceDefinition>; clients: Record<CsiService, ServiceClientConstructor> } {
  const definition = loadSync(protoFile('csi.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true });
  const csi = ((loadPackageDefinition(definition)['csi'] as GrpcObject)['v1'] as GrpcObject);
  const client = (name: string): ServiceClientConstructor => csi[name] as ServiceClientConstructor;
  return {
    services: { Identity: client('Identity').service, Controller: client('Controller').service, Node: client('Node').service },
    clients: { Identity: client('Identity'), Controller: client('Controller'), Node: client('Node') },
  };
}
