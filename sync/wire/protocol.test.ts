import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { chunkFrameHeader, decodeFrame, encodeFrame, FrameReader } from './protocol.js';

describe('bulk frames', () => {
  it.each([0, 1, 127, 128, 300_000, 1024 * 1024 + 28])(
    'a header-plus-payload chunk frame of %i bytes decodes like an encoded one',
    (size) => {
      const hash = randomBytes(32);
      const payload = randomBytes(size);
      const split = Buffer.concat([chunkFrameHeader(hash, 'zstd', payload.length), payload]);
      expect(split).toEqual(encodeFrame({ chunk: { hash, codec: 'zstd', payload } }));
      const [body] = new FrameReader().push(split);
      const frame = decodeFrame(body!);
      // BulkFrame__Output promises Buffers (views of the body): the gateway opens payloads without copying them.
      expect(Buffer.isBuffer(frame.chunk!.hash) && Buffer.isBuffer(frame.chunk!.payload)).toBe(true);
      expect(frame.chunk!.hash).toEqual(hash);
      expect(frame.chunk!.codec).toBe('zstd');
      expect(frame.chunk!.payload).toEqual(payload);
    },
  );

  it('reassembles frames split across reads and refuses an oversized one', () => {
    const frames = [encodeFrame({ open: { session_id: 'abc' } }), encodeFrame({ ack: { hashes: [randomBytes(32)] } })];
    const all = Buffer.concat(frames);
    const reader = new FrameReader();
    const out = [
      ...reader.push(all.subarray(0, 3)),
      ...reader.push(all.subarray(3, 20)),
      ...reader.push(all.subarray(20)),
    ];
    expect(out.map((b) => Object.keys(decodeFrame(b)).filter((k) => k !== 'frame'))).toEqual([['open'], ['ack']]);
    expect(reader.pending).toBe(0);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff, 0);
    expect(() => new FrameReader().push(huge)).toThrow(/exceeds the 67108864-byte limit/);
  });
});
