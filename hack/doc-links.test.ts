/**
 * Comments and READMEs point to documents inside the repository, and every section they cite
 * exists: `docs/<file>.md#<anchor>` anywhere, and relative Markdown links with an anchor. Anchors
 * are GitHub's heading slugs (or an explicit `<a id>`), so renaming a cited heading fails here.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', 'coverage', 'bin']);
const TEXT_EXTENSIONS = new Set(['.ts', '.js', '.md', '.yaml', '.yml', '.sh', '.proto', '.tpl', '.txt']);

function repositoryFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : repositoryFiles(path);
    return entry.isFile() && (TEXT_EXTENSIONS.has(extname(entry.name)) || entry.name === 'Dockerfile') ? [path] : [];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen. */
function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file offers: heading slugs (numbered when repeated) and `<a id>`s. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const slug = headingSlug(heading[1]!);
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count ? `${slug}-${count}` : slug);
  }
  return anchors;
}

interface Citation {
  /** The citing file, relative to the repository root. */
  from: string;
  /** The cited file, absolute. */
  target: string;
  anchor: string;
}

function citationsIn(file: string, text: string): Citation[] {
  const from = relative(ROOT, file);
  const citations: Citation[] = [];
  // `docs/<name>.md#<anchor>` names a file from the repository root, wherever it is written.
  for (const match of text.matchAll(/(?<![\w./-])docs\/([\w-]+\.md)#([\w-]+)/g)) {
    citations.push({ from, target: join(ROOT, 'docs', match[1]!), anchor: match[2]! });
  }
  // Markdown links are relative to the file that holds them.
  if (extname(file) === '.md') {
    for (const match of text.matchAll(/\]\(([^)\s#]*)#([^)\s]+)\)/g)) {
      const path = match[1]!;
      if (/^[a-z]+:/.test(path)) continue;
      citations.push({ from, target: path ? resolve(dirname(file), path) : file, anchor: match[2]! });
    }
  }
  return citations;
}

const files = repositoryFiles();
const texts = new Map(files.map((file) => [file, readFileSync(file, 'utf8')]));

describe('documentation links', () => {
  it('finds the architecture document and citations of it', () => {
    const cited = [...texts]
      .flatMap(([file, text]) => citationsIn(file, text))
      .filter((c) => c.target.endsWith('architecture.md'));
    expect(existsSync(join(ROOT, 'docs/architecture.md'))).toBe(true);
    expect(cited.length).toBeGreaterThan(10);
  });

  it('resolves every cited section to a heading of the cited file', () => {
    const broken = [...texts]
      .flatMap(([file, text]) => citationsIn(file, text))
      .filter(({ target, anchor }) => {
        const markdown = texts.get(target) ?? (existsSync(target) ? readFileSync(target, 'utf8') : undefined);
        return markdown === undefined || !anchorsOf(markdown).has(anchor);
      })
      .map(({ from, target, anchor }) => `${from} → ${relative(ROOT, target)}#${anchor}`);
    expect(broken).toEqual([]);
  });

  it('cites no design document outside the repository', () => {
    const outside = [/DESIGN §/, /shared\/DESIGN\.md/];
    const self = fileURLToPath(import.meta.url);
    const offenders = files
      .filter((file) => file !== self && outside.some((pattern) => pattern.test(texts.get(file)!)))
      .map((file) => relative(ROOT, file));
    expect(offenders).toEqual([]);
  });

  it.each([
    ['Sync engine', 'sync-engine'],
    ['A pass (worker → gateway)', 'a-pass-worker--gateway'],
    ['How Kmesh pods reach a filesystem', 'how-kmesh-pods-reach-a-filesystem'],
    ['`kmesh csi`: the driver', 'kmesh-csi-the-driver'],
  ])('slugs the heading %j as GitHub does (%s)', (heading, slug) => {
    expect(headingSlug(heading)).toBe(slug);
  });

  it('numbers repeated headings and skips fenced code', () => {
    expect([...anchorsOf('# A\n## A\n```yaml\n# not a heading\n```\n<a id="kept"></a>\n')]).toEqual([
      'a',
      'a-1',
      'kept',
    ]);
  });
});
