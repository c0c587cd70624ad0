import { describe, expect, it } from '@jest/globals';
import { parseSites, siteCluster } from './sites.js';

describe('sites of the multi-site bed', () => {
  it('numbers sites from 1, each with its own namespace, ranges, node and cgroupRoot', () => {
    const [east, west] = parseSites('east,west');
    expect(east).toMatchObject({
      name: 'east',
      nodeName: 'east-node',
      location: { region: 'east', zone: 'east-a' },
      cgroupRoot: '/kmesh-east',
      network: {
        netns: 'kmesh-east',
        podSubnet: '10.244.1.0/24',
        nodeAddress: '10.244.1.1',
        uplink: { hostInterface: 'kmesh-east', hostAddress: '10.245.1.1', nodeSideAddress: '10.245.1.2' },
      },
    });
    expect(west!.network.podSubnet).toBe('10.244.2.0/24');
    expect(west!.root).not.toBe(east!.root);
  });

  it('refuses a list it cannot make sites of, naming the problem', () => {
    expect(() => parseSites('east')).toThrow(/at least two sites/);
    expect(() => parseSites('east,east')).toThrow(/named twice/);
    // Interface names hold 15 characters: kmesh-<site> must fit.
    expect(() => parseSites('east,westernmost')).toThrow(/site name "westernmost"/);
    expect(() => parseSites('east,West')).toThrow(/lower-case/);
    expect(() => siteCluster('east', 0)).toThrow(/site index 0/);
  });
});
