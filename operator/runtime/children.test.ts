import { describe, expect, it } from '@jest/globals';
import { childName, differs } from './children.js';

describe('childName', () => {
  it('is <owner>-<role> when that fits a DNS label', () => {
    expect(childName('dev', 'gateway')).toBe('dev-gateway');
  });

  it.each([
    ['a'.repeat(63), 'gateway'],
    ['x'.repeat(60) + '-y', 'oss'],
  ])('shortens long names to 63 characters, keeps the role, stays unique (%#)', (owner, role) => {
    const name = childName(owner, role);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name.endsWith(`-${role}`)).toBe(true);
    expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(childName(owner + 'z', role)).not.toBe(name);
  });
});

describe('differs', () => {
  it.each([
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: 1 }, { a: 2 }, true],
    [{ a: { b: [1, 2] } }, { a: { b: [1, 2] }, c: 3 }, false],
    [{ a: [1, 2] }, { a: [1, 2, 3] }, true],
    [{ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }] }, false],
    [{ a: 1 }, {}, true],
    [{ a: '1' }, { a: 1 }, false],
  ])('%j against %j: %s', (desired, observed, expected) => {
    expect(differs(desired, observed)).toBe(expected);
  });
});
