/** The CSI Identity service: who the plugin is, what it offers, whether it is ready. */
import type { Driver } from './driver.js';
import type { Handler } from './server.js';

/**
 * Plugin capabilities: the Controller service, topology (volumes are accessible where their
 * instance is, csi/topology.ts) and online expansion (ControllerExpandVolume while mounted).
 */
const PLUGIN_CAPABILITIES: Array<Record<string, unknown>> = [
  { service: { type: 'CONTROLLER_SERVICE' } },
  { service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } },
  { volume_expansion: { type: 'ONLINE' } },
];

export function identityHandlers(driver: Driver): Record<string, Handler> {
  return {
    GetPluginInfo: () => Promise.resolve({ name: driver.config.name, vendor_version: driver.config.version, manifest: {} }),
    GetPluginCapabilities: () => Promise.resolve({ capabilities: PLUGIN_CAPABILITIES }),
    Probe: () => Promise.resolve({ ready: { value: driver.ready } }),
  };
}
