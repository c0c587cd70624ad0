import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChangeJournal, readJournal } from './journal.js';

describe('ChangeJournal', () => {
  let dir: string;
  let file: string;
  const open: ChangeJournal[] = [];

  const journal = (): ChangeJournal => {
    const j = new ChangeJournal(file);
    open.push(j);
    return j;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kmesh-journal-'));
    file = join(dir, 'changes.jsonl');
  });

  afterEach(() => {
    for (const j of open.splice(0)) j.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the appended records back in order with their fields', () => {
    const j = journal();
    const before = Date.now();
    j.record('create', 'a/b');
    j.record('write', 'a/b', {
      ranges: [
        [0, 4096],
        [8192, 10],
      ],
    });
    j.record('write', 'c');
    j.record('truncate', 'a/b', { size: 123 });
    j.record('rename', 'a/b', { to: 'd/e' });
    j.record('link', 'd/e', { to: 'f' });
    j.record('unlink', 'f');
    j.sync();
    const after = Date.now();

    const { records, next } = readJournal(file, 0);
    expect(records.map(({ t: _t, ...rest }) => rest)).toEqual([
      { op: 'create', path: 'a/b' },
      {
        op: 'write',
        path: 'a/b',
        ranges: [
          [0, 4096],
          [8192, 10],
        ],
      },
      { op: 'write', path: 'c' },
      { op: 'truncate', path: 'a/b', size: 123 },
      { op: 'rename', path: 'a/b', to: 'd/e' },
      { op: 'link', path: 'd/e', to: 'f' },
      { op: 'unlink', path: 'f' },
    ]);
    for (const r of records) {
      expect(r.t).toBeGreaterThanOrEqual(before);
      expect(r.t).toBeLessThanOrEqual(after);
    }
    expect(records.map((r) => r.t)).toEqual([...records.map((r) => r.t)].sort((x, y) => x - y));
    expect(next).toBe(readFileSync(file).length);
  });

  it('writes one JSON object per line', () => {
    const j = journal();
    j.record('mkdir', 'x');
    j.record('rmdir', 'x');
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines.slice(0, 2).map((l) => (JSON.parse(l) as { op: string }).op)).toEqual(['mkdir', 'rmdir']);
  });

  it('turns latin1 names into UTF-8 in the file, for path and to', () => {
    const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
    const j = journal();
    j.record('create', latin1('é'));
    j.record('rename', latin1('dir/ñ file'), { to: latin1('日本/語\n') });
    const raw = readFileSync(file);
    expect(raw.includes(Buffer.from('"é"', 'utf8'))).toBe(true);
    expect(raw.includes(Buffer.from('é', 'latin1'))).toBe(false);
    const { records } = readJournal(file, 0);
    expect(records.map((r) => [r.op, r.path, r.to])).toEqual([
      ['create', 'é', undefined],
      ['rename', 'dir/ñ file', '日本/語\n'],
    ]);
  });

  it('resumes from the returned offset and returns nothing new when nothing was appended', () => {
    const j = journal();
    j.record('create', 'one');
    const first = readJournal(file, 0);
    expect(first.records.map((r) => r.path)).toEqual(['one']);

    expect(readJournal(file, first.next)).toMatchObject({ records: [], next: first.next });

    j.record('create', 'two');
    j.record('create', 'three');
    const second = readJournal(file, first.next);
    expect(second.records.map((r) => r.path)).toEqual(['two', 'three']);
    expect(second.next).toBeGreaterThan(first.next);
    expect(readJournal(file, second.next)).toMatchObject({ records: [], next: second.next });
  });

  it('reads an empty journal as nothing', () => {
    journal();
    expect(readJournal(file, 0)).toMatchObject({ records: [], next: 0 });
  });

  it('leaves a partial last line until its newline arrives', () => {
    const j = journal();
    j.record('create', 'whole');
    const line = JSON.stringify({ t: 1, op: 'write', path: 'partial' });
    appendFileSync(file, line.slice(0, 10));

    const first = readJournal(file, 0);
    expect(first.records.map((r) => r.path)).toEqual(['whole']);
    expect(first.next).toBe(readFileSync(file).length - 10);

    // from the offset, only the fragment: nothing yet
    expect(readJournal(file, first.next)).toMatchObject({ records: [], next: first.next });

    appendFileSync(file, line.slice(10) + '\n');
    const second = readJournal(file, first.next);
    expect(second.records).toEqual([{ t: 1, op: 'write', path: 'partial' }]);
    expect(second.next).toBe(readFileSync(file).length);
  });

  it('does not split a multi-byte UTF-8 character of a partial line', () => {
    const j = journal();
    j.record('create', 'a');
    const line = Buffer.from(JSON.stringify({ t: 2, op: 'create', path: 'é€' }) + '\n', 'utf8');
    const cut = line.indexOf(Buffer.from('€', 'utf8')) + 1; // inside the three-byte €
    appendFileSync(file, line.subarray(0, cut));
    const first = readJournal(file, 0);
    expect(first.records.map((r) => r.path)).toEqual(['a']);
    appendFileSync(file, line.subarray(cut));
    expect(readJournal(file, first.next).records.map((r) => r.path)).toEqual(['é€']);
  });

  it('counts the records appended through it', () => {
    const j = journal();
    expect(j.count).toBe(0);
    j.record('create', 'a');
    j.record('write', 'a', { ranges: [[0, 1]] });
    j.record('attr', 'a');
    expect(j.count).toBe(3);
    // a second writer on the same file counts only its own, and both land in the file
    const k = journal();
    k.record('xattr', 'a');
    expect([j.count, k.count]).toEqual([3, 1]);
    expect(readJournal(file, 0).records).toHaveLength(4);
  });
});
