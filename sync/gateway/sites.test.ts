import { describe, expect, it } from '@jest/globals';
import { acceptsFrom, type PeerDirection, type ServedDataFlow } from './sites.js';

const served = (direction: string): ServedDataFlow => ({
  name: 'ns/flow',
  treeDir: '/t',
  stateDir: '/s',
  deletedRetentionMs: 0,
  // A bidirectional entry cannot come from a parsed config; cast to prove the gateway still refuses it.
  peers: [{ name: 'east', direction: direction as PeerDirection }],
  encryption: 'none',
});

describe('which sites a gateway accepts changes from', () => {
  it.each([
    ['pull', true],
    ['push', false],
    // Without multi-master, accepting a bidirectional peer's files would replace local edits.
    ['bidirectional', false],
  ])('a peer with direction %s: %s', (direction, accepted) => {
    expect(acceptsFrom(served(direction), ['east'])).toBe(accepted);
    expect(acceptsFrom(served(direction), ['west'])).toBe(false);
  });
});
