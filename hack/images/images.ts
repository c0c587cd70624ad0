/**
 * Builds the images the end-to-end cluster runs, with buildah and no registry, and loads them into
 * a containerd:
 *
 * - `kmesh`: the repository's Dockerfile, with BASE_IMAGE set to a Node.js base made here
 *   (node-base.ts) instead of node:22-slim;
 * - the CSI sidecars and the snapshot controller: the binaries hack/build-tools.sh built from their
 *   Go modules, each alone in a from-scratch image;
 * - `pause`: the pod sandbox (pause.c, static).
 *
 * Each image is saved as a docker-archive under ${KMESH_IMAGES_DIR:-~/.cache/kmesh/images}, named by
 * a hash of its inputs, so an unchanged image is never rebuilt. buildah's storage lives there too.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { runTool } from '../run.js';
import { REPO_ROOT, toolPath, type Tool } from '../tools.js';
import { NODE_BASE_CONTAINERFILE, nodeBaseContents, writeNodeBase } from './node-base.js';

/** Every image is tagged so; the cluster's containerd starts empty, so there is nothing to clash with. */
export const LOCAL_TAG = 'dev';
const REPOSITORY = 'localhost/kmesh';

/** The images the chart needs, by the name the e2e values use. */
export const SIDECARS = [
  'csi-provisioner',
  'csi-snapshotter',
  'csi-resizer',
  'snapshot-controller',
] as const satisfies readonly Tool[];
export type Sidecar = (typeof SIDECARS)[number];
export type ImageName = 'kmesh' | 'pause' | Sidecar;

export const imageRef = (name: ImageName): string => `${REPOSITORY}/${name}:${LOCAL_TAG}`;

/** Sources the Kmesh image is built from (what the Dockerfile copies). */
const KMESH_INPUTS = [
  'Dockerfile',
  '.dockerignore',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'api',
  'cmd',
  'lib',
  'operator',
  'csi',
  'sync',
  'proto',
];

export function imagesDir(): string {
  return (
    process.env['KMESH_IMAGES_DIR'] ??
    join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'kmesh', 'images')
  );
}

export interface BuiltImage {
  name: ImageName;
  ref: string;
  /** docker-archive holding the image under `ref`. */
  archive: string;
  /** false when the archive came from the cache. */
  built: boolean;
  seconds: number;
}

class Hasher {
  private readonly hash = createHash('sha256');
  add(...parts: Array<string | Buffer>): this {
    for (const part of parts) this.hash.update(part).update('\0');
    return this;
  }
  /** Adds every file under `path` (relative name, mode and content). */
  addTree(root: string, path: string): this {
    const full = join(root, path);
    const stat = statSync(full);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(full).sort()) this.addTree(root, join(path, entry));
    } else if (stat.isFile() && !path.endsWith('.test.ts')) {
      this.add(path, String(stat.mode), readFileSync(full));
    }
    return this;
  }
  digest(): string {
    return this.hash.digest('hex').slice(0, 16);
  }
}

const OWN_SOURCES = ['images.ts', 'node-base.ts', 'pause.c'].map((file) => join(REPO_ROOT, 'hack', 'images', file));

function buildah(args: string[]): Promise<string> {
  const storage = join(imagesDir(), 'buildah');
  return runTool(
    'buildah',
    ['--root', join(storage, 'storage'), '--runroot', join(storage, 'run'), '--storage-driver', 'overlay', ...args],
    { timeoutMs: 20 * 60_000 },
  );
}

/** Builds `Containerfile` in `context` as `ref` (chroot isolation: no runtime needed to build). */
async function bud(
  ref: string,
  context: string,
  containerfile: string,
  buildArgs: Record<string, string> = {},
): Promise<void> {
  // npm opens many cache files at once, more than the 1024 a build step gets by default.
  const nofile = openFileLimit();
  const args = [
    'bud',
    '--isolation',
    'chroot',
    '--pull=never',
    '--ulimit',
    `nofile=${nofile}:${nofile}`,
    '-f',
    containerfile,
    '-t',
    ref,
  ];
  for (const [key, value] of Object.entries(buildArgs)) args.push('--build-arg', `${key}=${value}`);
  await buildah([...args, context]);
}

/** This process's hard limit on open files (raising it needs CAP_SYS_RESOURCE, which a sandbox may lack). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = Number(line?.trim().split(/\s+/)[4]);
  return Number.isFinite(hard) && hard > 0 ? Math.min(hard, 1_048_576) : 4096;
}

/** Saves `ref` as a docker-archive at `archive`, atomically. */
async function save(ref: string, archive: string): Promise<void> {
  mkdirSync(dirname(archive), { recursive: true });
  const partial = `${archive}.partial`;
  rmSync(partial, { force: true });
  await buildah(['push', ref, `docker-archive:${partial}:${ref}`]);
  renameSync(partial, archive);
}

/** A scratch context directory for one build, removed afterwards. */
async function withContext<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-image-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cached(name: ImageName, key: string, build: (ref: string) => Promise<void>): Promise<BuiltImage> {
  const started = Date.now();
  const ref = imageRef(name);
  const archive = join(imagesDir(), `${name}-${key}.tar`);
  if (existsSync(archive)) return { name, ref, archive, built: false, seconds: 0 };
  await build(ref);
  await save(ref, archive);
  // Older archives of this image are of no further use.
  for (const file of readdirSync(imagesDir())) {
    if (file.startsWith(`${name}-`) && file.endsWith('.tar') && file !== basename(archive))
      rmSync(join(imagesDir(), file), { force: true });
  }
  return { name, ref, archive, built: true, seconds: (Date.now() - started) / 1000 };
}

/** The Node.js base; returns its ref in buildah's storage (it is never loaded into a cluster). */
async function buildNodeBase(): Promise<{ ref: string; key: string }> {
  const contents = nodeBaseContents();
  const hasher = new Hasher().add(
    NODE_BASE_CONTAINERFILE,
    JSON.stringify(contents),
    readFileSync(join(REPO_ROOT, 'hack', 'images', 'node-base.ts')),
  );
  for (const file of [contents.node, ...Object.values(contents.programs), ...contents.libraries]) {
    const stat = statSync(file);
    hasher.add(file, String(stat.size), String(stat.mtimeMs));
  }
  hasher.add(readFileSync(join(contents.npmRoot, 'package.json')));
  const key = hasher.digest();
  const ref = `${REPOSITORY}/node-base:${key}`;
  const present = await buildah(['images', '--quiet', ref]).then(
    () => true,
    () => false,
  );
  if (!present) {
    await withContext(async (dir) => {
      writeNodeBase(join(dir, 'rootfs'), contents);
      writeFileSync(join(dir, 'Containerfile'), NODE_BASE_CONTAINERFILE);
      await bud(ref, dir, join(dir, 'Containerfile'));
    });
  }
  return { ref, key };
}

async function buildKmesh(): Promise<BuiltImage> {
  const base = await buildNodeBase();
  const hasher = new Hasher().add(base.key, ...OWN_SOURCES.map((file) => readFileSync(file)));
  for (const input of KMESH_INPUTS) hasher.addTree(REPO_ROOT, input);
  return cached('kmesh', hasher.digest(), (ref) =>
    bud(ref, REPO_ROOT, join(REPO_ROOT, 'Dockerfile'), { BASE_IMAGE: base.ref }),
  );
}

async function buildPause(): Promise<BuiltImage> {
  const source = join(REPO_ROOT, 'hack', 'images', 'pause.c');
  const gcc = await runTool('gcc', ['--version']);
  return cached('pause', new Hasher().add(readFileSync(source), gcc).digest(), (ref) =>
    withContext(async (dir) => {
      await runTool('gcc', ['-static', '-Os', '-s', '-o', join(dir, 'pause'), source]);
      writeFileSync(
        join(dir, 'Containerfile'),
        ['FROM scratch', 'COPY pause /pause', 'ENTRYPOINT ["/pause"]', ''].join('\n'),
      );
      await bud(ref, dir, join(dir, 'Containerfile'));
    }),
  );
}

/** A sidecar: its static binary (hack/build-tools.sh builds csi-* with CGO off) in a scratch image. */
async function buildSidecar(name: Sidecar): Promise<BuiltImage> {
  const binary = realpathSync(toolPath(name));
  const stampFile = join(dirname(binary), `.stamp-${name}`);
  const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : String(statSync(binary).mtimeMs);
  const key = new Hasher()
    .add(relative(dirname(dirname(binary)), binary), stamp, readFileSync(OWN_SOURCES[0]!))
    .digest();
  return cached(name, key, (ref) =>
    withContext(async (dir) => {
      await runTool('cp', [binary, join(dir, name)]);
      // Root, as the registry.k8s.io images run: the driver's socket is root's.
      writeFileSync(
        join(dir, 'Containerfile'),
        ['FROM scratch', `COPY ${name} /${name}`, `ENTRYPOINT ["/${name}"]`, ''].join('\n'),
      );
      await bud(ref, dir, join(dir, 'Containerfile'));
    }),
  );
}

/** Builds (or finds cached) every image, one at a time: the machine has two cores. */
export async function buildImages(log: (line: string) => void = (): void => undefined): Promise<BuiltImage[]> {
  const images: BuiltImage[] = [];
  const steps: Array<[ImageName, () => Promise<BuiltImage>]> = [
    ['pause', buildPause],
    ...SIDECARS.map((name): [ImageName, () => Promise<BuiltImage>] => [name, () => buildSidecar(name)]),
    ['kmesh', buildKmesh],
  ];
  for (const [name, build] of steps) {
    log(`image ${name}: building (cached archives are reused)`);
    const image = await build();
    log(
      image.built
        ? `image ${name}: built in ${image.seconds.toFixed(1)} s`
        : `image ${name}: cached (${basename(image.archive)})`,
    );
    images.push(image);
  }
  return images;
}

/** Imports the archives into the containerd at `address`, in the namespace the kubelet uses. */
export async function loadImages(images: BuiltImage[], address: string): Promise<void> {
  for (const image of images) {
    await runTool('ctr', ['--address', address, '--namespace', 'k8s.io', 'images', 'import', image.archive]);
  }
}
