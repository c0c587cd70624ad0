#!/usr/bin/env node
/**
 * The one Kmesh executable: `kmesh <command>`. Components (operator, csi, sync, gateway) are added
 * here as they land; each dispatches to its own main module, and this file only wires them up.
 */
import { crdYaml } from '../api/generate.js';
import { GROUP, KINDS, VERSION } from '../api/v1alpha1/index.js';
import { kmeshVersion } from '../lib/version.js';

interface Command {
  summary: string;
  run(args: string[]): Promise<number> | number;
}

const commands: Record<string, Command> = {
  operator: {
    summary: 'run the Kubernetes operator (kmesh operator --help)',
    run: async (args) => (await import('../operator/main.js')).main(args),
  },
  csi: {
    summary: 'serve the CSI driver csi.kmesh.io (kmesh csi --help)',
    run: async (args) => (await import('../csi/main.js')).main(args),
  },
  sync: {
    summary: 'run the sync worker of one DataFlow (kmesh sync --config <file>)',
    run: async (args) => (await import('../sync/main.js')).workerMain(args),
  },
  gateway: {
    summary: 'run the sync gateway of one instance (kmesh gateway --config <file>)',
    run: async (args) => (await import('../sync/main.js')).gatewayMain(args),
  },
  snapshot: {
    summary: 'take, copy or remove a snapshot on an instance filesystem (run by the operator; kmesh snapshot --help)',
    run: async (args) => (await import('../sync/snapshots/main.js')).snapshotMain(args),
  },
  fs: {
    summary: 'serve a directory through the Kmesh filesystem (FUSE) on a mount point (kmesh fs mount --help)',
    run: async (args) => (await import('../fs/main.js')).fsMain(args),
  },
  certs: {
    summary: 'make a CA the sites share and issue site certificates as kubernetes.io/tls Secrets (kmesh certs --help)',
    run: async (args) => (await import('./certs.js')).certsMain(args),
  },
  version: {
    summary: 'print the Kmesh version',
    run: () => {
      console.log(`kmesh ${kmeshVersion()} (API ${GROUP}/${VERSION})`);
      return 0;
    },
  },
  crds: {
    summary: 'print the Kmesh CustomResourceDefinitions (kmesh crds | kubectl apply --server-side -f -)',
    run: () => {
      process.stdout.write(KINDS.map(crdYaml).join('---\n'));
      return 0;
    },
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: kmesh <command>\n\ncommands:\n${lines.join('\n')}`;
}

const [name, ...args] = process.argv.slice(2);
const command = name ? commands[name] : undefined;
if (!command) {
  console.error(
    name && name !== 'help' && name !== '--help' ? `kmesh: unknown command "${name}"\n\n${usage()}` : usage(),
  );
  process.exitCode = name === 'help' || name === '--help' ? 0 : 2;
} else {
  process.exitCode = await command.run(args);
}
