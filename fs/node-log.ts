/**
 * The node table's log on disk: one JSON array per line (a NodeRecord), appended before the reply
 * that hands the kernel a new node id, so a server that takes over the connection after a crash
 * knows every id the kernel may still use. A server starting on a log compacts it first.
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { writeFileAtomic } from '../lib/durable.js';
import type { NodeLog, NodeRecord, NodeTable } from './nodes.js';

/** Compact once the log holds this many records more than the table needs. */
const COMPACT_SLACK = 100_000;

export class NodeLogFile implements NodeLog {
  private fd: number;
  private records = 0;

  constructor(
    private readonly file: string,
    private readonly table: NodeTable,
  ) {
    this.fd = openSync(file, 'a');
  }

  write(record: NodeRecord): void {
    writeSync(this.fd, JSON.stringify(record) + '\n');
    if (++this.records > COMPACT_SLACK && this.records > 4 * this.table.size) this.compact();
  }

  /** Rewrites the log as the table is now. */
  compact(): void {
    const records = this.table.snapshot();
    writeFileAtomic(this.file, records.map((r) => JSON.stringify(r) + '\n').join(''));
    closeSync(this.fd);
    this.fd = openSync(this.file, 'a');
    this.records = records.length;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The records of a log; a line torn by a crash (the last) is dropped. */
export function readNodeLog(file: string): NodeRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const records: NodeRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      records.push(JSON.parse(line) as NodeRecord);
    } catch {
      break;
    }
  }
  return records;
}
