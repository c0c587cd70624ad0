import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listEntries, listNames, shownName, textOf } from './names.js';

describe('listings with names that are not UTF-8', () => {
  let dir: string;
  const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in Latin-1

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-names-'));
    writeFileSync(join(dir, 'plain'), '');
    writeFileSync(join(dir, 'new\nline'), '');
    mkdirSync(join(dir, 'données'));
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1]), '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists text names and sets the others apart, by their bytes', () => {
    const { names, skipped } = listNames(dir);
    expect(names.sort()).toEqual(['données', 'new\nline', 'plain']);
    expect(skipped).toEqual([latin1]);
  });

  it('lists entries with their types, leaving out names that are not UTF-8', () => {
    const entries = listEntries(dir).sort((a, b) => a.name.localeCompare(b.name));
    expect(entries).toEqual([
      { name: 'données', isFile: false, isDirectory: true },
      { name: 'new\nline', isFile: true, isDirectory: false },
      { name: 'plain', isFile: true, isDirectory: false },
    ]);
  });

  it('lists a directory that is gone as empty', () => {
    expect(listNames(join(dir, 'gone'))).toEqual({ names: [], skipped: [] });
  });

  it.each([
    [latin1, 'caf\\xe9'],
    [Buffer.from('a\\b\n'), 'a\\x5cb\\x0a'],
    [Buffer.from('ok name'), 'ok name'],
  ])('shows %j as %s', (bytes, shown) => {
    expect(shownName(bytes)).toBe(shown);
  });

  it('reads bytes as text only when they are UTF-8', () => {
    expect(textOf(Buffer.from('../données'))).toBe('../données');
    expect(textOf(latin1)).toBeUndefined();
  });
});
