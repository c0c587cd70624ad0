// See global-setup.js for why this is JavaScript.
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const lifecycle = await tsImport('./control-plane-lifecycle.ts', import.meta.url);
  await lifecycle.teardown();
}
