import { describe, expect, it } from '@jest/globals';
import { renderTypes } from './render-types.js';
import { enumeration, integer, named, object, required, string } from './schema.js';
import type { KindDefinition } from './v1alpha1/kind.js';

const kind = (spec: ReturnType<typeof object>): KindDefinition => ({
  kind: 'Widget',
  plural: 'widgets',
  singular: 'widget',
  shortNames: [],
  description: 'A widget.',
  spec,
  status: object('Observed state.', { phase: enumeration('Phase.', ['Ready', 'Failed']) }),
  printerColumns: [],
});

describe('renderTypes', () => {
  it('renders required and optional fields, enums and descriptions', () => {
    const text = renderTypes(
      [
        kind(
          object('Desired state.', {
            size: required(integer('How big.')),
            color: enumeration('Which color.', ['red', 'blue']),
          }),
        ),
      ],
      'example.io/v1',
      'test',
    );
    expect(text).toContain(
      'export interface WidgetSpec {\n  /** How big. */\n  size: number;\n  /** Which color. */\n  color?: "red" | "blue";\n}',
    );
    expect(text).toContain("apiVersion: 'example.io/v1';");
    expect(text).toContain('status?: WidgetStatus;');
  });

  it('names nested objects after their parent unless named()', () => {
    const text = renderTypes(
      [
        kind(
          object('Desired state.', {
            inner: object('Inner.', { a: string('A.') }),
            ref: named('Ref', object('Ref.', { n: string('N.') })),
          }),
        ),
      ],
      'example.io/v1',
      'test',
    );
    expect(text).toContain('inner?: WidgetInner;');
    expect(text).toContain('ref?: Ref;');
    expect(text).toContain('export interface Ref {');
  });

  it('refuses two different shapes under one name', () => {
    const spec = object('Desired state.', {
      a: named('Same', object('A.', { x: string('X.') })),
      b: named('Same', object('B.', { y: string('Y.') })),
    });
    expect(() => renderTypes([kind(spec)], 'example.io/v1', 'test')).toThrow(
      /two different schemas are both named Same/,
    );
  });
});
