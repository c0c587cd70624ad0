/** The CSI Identity service: who the plugin is, what it offers, whether it is ready. */
import type { Driver } from './driver.js';
import type { Handler } from './server.js';

/**
 * Plugin capabilities the driver advertises: only what csi-sanity passes (test/integration/
 * csi-sanity.test.ts). Topology comes with topology selection, expansion with ControllerExpandVolume.
 */
const PLUGIN_CAPABILITIES: Array<Record<string, unknown>> = [{ service: { type: 'CONTROLLER_SERVICE' } }];

export function identityHandlers(driver: Driver): Record<string, Handler> {
  return {
    GetPluginInfo: () => Promise.resolve({ name: driver.config.name, vendor_version: driver.config.version, manifest: {} }),
    GetPluginCapabilities: () => Promise.resolve({ capabilities: PLUGIN_CAPABILITIES }),
    Probe: () => Promise.resolve({ ready: { value: driver.ready } }),
  };
}
