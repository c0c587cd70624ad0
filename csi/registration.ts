/**
 * Registration with the kubelet, done by the node plugin itself (what node-driver-registrar does as
 * a sidecar): serve the kubelet's plugin registration API on `<driver>-reg.sock` in its
 * plugins_registry directory. The kubelet notices the socket, calls GetInfo to learn the driver's
 * name and CSI socket, and then calls NotifyRegistrationStatus with the outcome.
 */
import { join } from 'node:path';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Logger } from '../lib/logging.js';
import { protoFile } from '../lib/proto.js';
import { serveCsi, type CsiServer, type Handler } from './server.js';

/** CSI versions the driver speaks (proto/csi.proto is CSI v1). */
const SUPPORTED_VERSIONS = ['1.0.0'];

export function loadRegistration(): { service: ServiceDefinition; client: ServiceClientConstructor } {
  const definition = loadSync(protoFile('kubelet/pluginregistration/v1/api.proto'), { keepCase: true, defaults: true });
  const client = (loadPackageDefinition(definition)['pluginregistration'] as GrpcObject)['Registration'] as ServiceClientConstructor;
  return { service: client.service, client };
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

export function registrationHandlers(options: RegistrationOptions, onStatus: (registered: boolean, error: string) => void): Record<string, Handler> {
  return {
    GetInfo: () => Promise.resolve({ type: 'CSIPlugin', name: options.driverName, endpoint: options.kubeletEndpoint, supported_versions: SUPPORTED_VERSIONS }),
    NotifyRegistrationStatus: (request) => {
      const { plugin_registered, error } = request as { plugin_registered: boolean; error: string };
      onStatus(plugin_registered, error);
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
  const server = await serveCsi(`unix://${socket}`, [{ definition: loadRegistration().service, handlers }], options.log);
  return { registered: () => registered, server };
}
