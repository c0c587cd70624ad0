/**
 * Registration with the kubelet, done by the node plugin itself (what node-driver-registrar does as
 * a sidecar): serve the kubelet's plugin registration API on `<driver>-reg.sock` in its
 * plugins_registry directory. The kubelet notices the socket, calls GetInfo to learn the driver's
 * name and CSI socket, and then calls NotifyRegistrationStatus with the outcome.
 */
import { join } from 'node:path';
import { loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { ResponseSent, TypedHandlers } from '../lib/grpc-service-types.js';
import type { Logger } from '../lib/logging.js';
import { PROTO_LOADER_OPTIONS, protoFile } from '../lib/proto.js';
import type { ProtoGrpcType } from './generated/api.js';
import type { RegistrationDefinition } from './generated/pluginregistration/Registration.js';
import { serveCsi, type CsiServer } from './server.js';

/** CSI versions the driver speaks (proto/csi.proto is CSI v1). */
const SUPPORTED_VERSIONS = ['1.0.0'];

export function loadRegistration(): { service: ServiceDefinition; client: ServiceClientConstructor } {
  const definition = loadSync(protoFile('kubelet/pluginregistration/v1/api.proto'), PROTO_LOADER_OPTIONS);
  const registration = (loadPackageDefinition(definition) as unknown as ProtoGrpcType).pluginregistration.Registration;
  // The client stays untyped for tests, which play the kubelet by method name.
  return { service: registration.service, client: registration as unknown as ServiceClientConstructor };
}

export interface RegistrationOptions {
  driverName: string;
  /** Directory the kubelet watches for plugin sockets, as mounted in this container. */
  registrationDir: string;
  /** The driver's CSI socket as a path on the node, which the kubelet dials. */
  kubeletEndpoint: string;
  log: Logger;
}

export interface Registration {
  /** Whether the kubelet last reported the registration as done. */
  registered: () => boolean;
  server: CsiServer;
}

export function registrationHandlers(
  options: RegistrationOptions,
  onStatus: (registered: boolean, error: string) => void,
): TypedHandlers<RegistrationDefinition> {
  return {
    GetInfo: () =>
      Promise.resolve({
        type: 'CSIPlugin',
        name: options.driverName,
        endpoint: options.kubeletEndpoint,
        supported_versions: SUPPORTED_VERSIONS,
      } satisfies ResponseSent<RegistrationDefinition, 'GetInfo'>),
    NotifyRegistrationStatus: (request) => {
      onStatus(request.plugin_registered, request.error);
      return Promise.resolve({});
    },
  };
}

/** Serves the registration socket until `server.close()`. */
export async function registerWithKubelet(options: RegistrationOptions): Promise<Registration> {
  let registered = false;
  const handlers = registrationHandlers(options, (ok, error) => {
    registered = ok;
    if (ok) options.log.info({ driver: options.driverName }, 'registered with the kubelet');
    else options.log.error({ driver: options.driverName, error }, 'the kubelet refused the registration');
  });
  const socket = join(options.registrationDir, `${options.driverName}-reg.sock`);
  const server = await serveCsi(
    `unix://${socket}`,
    [{ definition: loadRegistration().service, handlers }],
    options.log,
  );
  return { registered: () => registered, server };
}
