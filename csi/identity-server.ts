/** The CSI Identity service: who the plugin is, what it offers, whether it is ready. */
import type { ResponseSent, TypedHandlers } from '../lib/grpc-service-types.js';
import type { Driver } from './driver.js';
import type { IdentityDefinition } from './generated/csi/v1/Identity.js';
import type { PluginCapability } from './generated/csi/v1/PluginCapability.js';
import type { ServiceHandlers } from './server.js';

/**
 * Plugin capabilities: the Controller service, topology (volumes are accessible where their
 * instance is, csi/topology.ts) and online expansion (ControllerExpandVolume while mounted).
 */
const PLUGIN_CAPABILITIES: PluginCapability[] = [
  { service: { type: 'CONTROLLER_SERVICE' } },
  { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } },
  { volume_expansion: { type: 'ONLINE' } },
];

type Reply<M extends keyof TypedHandlers<IdentityDefinition>> = ResponseSent<IdentityDefinition, M>;

/**
 * The Identity service's handlers, checked against its generated message types (`satisfies`, so a
 * misspelt field is an error: every response field is optional, which inference would let pass).
 */
export function identityHandlers(driver: Driver): ServiceHandlers {
  const handlers: TypedHandlers<IdentityDefinition> = {
    GetPluginInfo: () =>
      Promise.resolve({
        name: driver.config.name,
        vendor_version: driver.config.version,
        manifest: {},
      } satisfies Reply<'GetPluginInfo'>),
    GetPluginCapabilities: () =>
      Promise.resolve({ capabilities: PLUGIN_CAPABILITIES } satisfies Reply<'GetPluginCapabilities'>),
    Probe: () => Promise.resolve({ ready: { value: driver.ready } } satisfies Reply<'Probe'>),
  };
  return handlers;
}
