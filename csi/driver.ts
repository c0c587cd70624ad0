/**
 * The CSI driver's identity and configuration, shared by its services. The constructor refuses a
 * configuration the driver cannot run with, naming the field.
 */
import { invalidArgument } from '../lib/errors.js';

/** CSI driver names follow domain-name notation: at most 63 characters, alphanumeric at both ends. */
const DRIVER_NAME = /^[A-Za-z0-9]([-A-Za-z0-9.]{0,61}[A-Za-z0-9])?$/;

export interface DriverConfig {
  /** The CSI driver name, e.g. csi.kmesh.io. */
  name: string;
  /** Reported by GetPluginInfo. */
  version: string;
  /** unix:///path of the socket the driver serves. */
  endpoint: string;
}

export class Driver {
  /** False until the driver can serve; Probe reports it. */
  private isReady = false;

  constructor(readonly config: DriverConfig) {
    if (!DRIVER_NAME.test(config.name))
      throw invalidArgument(
        `driver name "${config.name}" must be a domain name of at most 63 characters, such as csi.kmesh.io`,
      );
    if (!config.version) throw invalidArgument('driver version must not be empty');
    if (!config.endpoint) throw invalidArgument('endpoint must not be empty');
  }

  get ready(): boolean {
    return this.isReady;
  }

  markReady(): void {
    this.isReady = true;
  }
}
