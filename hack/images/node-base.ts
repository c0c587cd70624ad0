/**
 * The root filesystem of the Node.js base image hack/images builds when no registry serves
 * node:22-slim: this machine's own Node.js and npm, the shared libraries they and the other
 * programs load (found with ldd), a shell and env(1) for npm scripts, mount(8)/umount(8) for the
 * CSI node plugin, the CA bundle, and passwd/group entries for root and the non-root user.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Programs the base carries, by the path they get in the image. */
const PROGRAMS: Record<string, string> = {
  '/bin/sh': 'sh',
  '/usr/bin/env': 'env',
  '/usr/bin/mount': 'mount',
  '/usr/bin/umount': 'umount',
};

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** The image's non-root user (the Dockerfile's USER). */
const NONROOT_UID = 65532;

function which(program: string): string {
  return realpathSync(execFileSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).trim());
}

/** Absolute paths of the shared objects `binary` loads, the dynamic loader included. */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  } catch {
    return []; // "not a dynamic executable": nothing to carry
  }
  const libraries: string[] = [];
  for (const line of out.split('\n')) {
    const match = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (match) libraries.push(match[1]!);
  }
  return libraries;
}

/** What goes into the base; `describe` feeds the image's cache key. */
export interface NodeBaseContents {
  node: string;
  npmRoot: string;
  programs: Record<string, string>;
  libraries: string[];
}

/**
 * Every shared library of the C library package (libc6): native Node.js addons (lz4-napi needs
 * librt) expect a whole glibc, as any Debian-based image has.
 */
function cLibraries(): string[] {
  const files = execFileSync('dpkg', ['-L', 'libc6'], { encoding: 'utf8' }).split('\n');
  return files.filter((file) => /^\/(usr\/)?lib(64|\/x86_64-linux-gnu)\/[^/]+\.so(\.\d+)*$/.test(file));
}

export function nodeBaseContents(): NodeBaseContents {
  const node = realpathSync(process.execPath);
  const npmRoot = join(dirname(which('npm')), '..'); // …/node_modules/npm/bin/npm-cli.js → …/npm
  const programs: Record<string, string> = {};
  for (const [target, program] of Object.entries(PROGRAMS)) programs[target] = which(program);
  const libraries = new Set<string>(cLibraries());
  for (const binary of [node, ...Object.values(programs)])
    for (const library of sharedLibraries(binary)) libraries.add(library);
  return { node, npmRoot: realpathSync(npmRoot), programs, libraries: [...libraries].sort() };
}

/** Writes the root filesystem into `rootfs` (which must not exist yet). */
export function writeNodeBase(rootfs: string, contents: NodeBaseContents): void {
  const put = (source: string, target: string): void => {
    mkdirSync(join(rootfs, dirname(target)), { recursive: true });
    copyFileSync(source, join(rootfs, target));
  };
  put(contents.node, '/usr/local/bin/node');
  cpSync(contents.npmRoot, join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
  for (const [target, source] of Object.entries(contents.programs)) put(source, target);
  // Libraries keep the path the loader finds them at on this machine.
  for (const library of contents.libraries) put(realpathSync(library), library);
  put(CA_BUNDLE, CA_BUNDLE);
  mkdirSync(join(rootfs, 'etc'), { recursive: true });
  writeFileSync(
    join(rootfs, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\nnonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/home/nonroot:/bin/sh\n`,
  );
  writeFileSync(join(rootfs, 'etc/group'), `root:x:0:\nnonroot:x:${NONROOT_UID}:\n`);
  for (const dir of ['tmp', 'root', 'home/nonroot']) mkdirSync(join(rootfs, dir), { recursive: true });
  chmodSync(join(rootfs, 'tmp'), 0o1777);
}

/** The Containerfile that turns the root filesystem (`rootfs/` in the context) into the base. */
export const NODE_BASE_CONTAINERFILE = [
  'FROM scratch',
  'COPY rootfs/ /',
  // Node.js trusts its own CA list only; npm in the build stage must trust the system's bundle.
  `ENV PATH=/usr/local/bin:/usr/bin:/bin NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`,
  '',
].join('\n');
