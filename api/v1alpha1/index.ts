/**
 * The Kmesh API, group kmesh.io, version v1alpha1: the kind definitions (the single source the CRDs
 * and the TypeScript types are generated from) and the generated types themselves.
 */
import { dataFlow } from './data-flow.js';
import type { KindDefinition } from './kind.js';
import { kmeshInstance } from './kmesh-instance.js';
import { snapshot } from './snapshot.js';
import { virtualCopy } from './virtual-copy.js';

export const GROUP = 'kmesh.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
/** `kubectl get kmesh` lists every Kmesh object. */
export const CATEGORY = 'kmesh';

/** Every kind of the API, in the order they are documented. */
export const KINDS: readonly KindDefinition[] = [kmeshInstance, dataFlow, snapshot, virtualCopy];

export type { KindDefinition, PrinterColumn } from './kind.js';
export { isDnsLabel, isDnsSubdomain } from './common.js';
export * from './conditions.js';
export * from './events.js';
export * from './support.js';
export * from './generated/types.js';
export * from './paths.js';
