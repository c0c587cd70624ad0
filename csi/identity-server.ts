/** The CSI Identity service: who the plugin is, what it offers, whether it is ready. */
import type { Driver } from './driver.js';
import type { Handler } from './server.js';

/**
 * Plugin capabilities the driver advertises. Only what it passes csi-sanity for: the Controller
 * service and topology are added with the controller, expansion with ControllerExpandVolume.
 */
const PLUGIN_CAPABILITIES: Array<Record<string, unknown>> = [];

export function identityHandlers(driver: Driver): Record<string, Handler> {
  return {
    GetPluginInfo: () => Promise.resolve({ name: driver.config.name, vendor_version: driver.config.version, manifest: {} }),
    GetPluginCapabilities: () => Promise.resolve({ capabilities: PLUGIN_CAPABILITIES }),
    Probe: () => Promise.resolve({ ready: { value: driver.ready } }),
  };
}
