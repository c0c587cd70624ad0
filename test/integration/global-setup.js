// Jest imports global setup natively, outside its transform and module mapping, so the TypeScript
// lifecycle is loaded through tsx.
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const lifecycle = await tsImport('./control-plane-lifecycle.ts', import.meta.url);
  await lifecycle.setup();
}
