/** Renders a Kmesh kind definition as an apiextensions.k8s.io/v1 CustomResourceDefinition. */
import type { KindDefinition, PrinterColumn } from './v1alpha1/kind.js';
import { object, required, string, type JSONSchemaProps } from './schema.js';

/** Only the fields of a CRD we set; enough to apply it and to read it back. */
export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    group: string;
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    scope: 'Namespaced';
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JSONSchemaProps };
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }>;
  };
}

export interface CrdOptions {
  group: string;
  version: string;
  category: string;
}

/** The whole object's schema: apiVersion, kind, metadata, spec and status. */
export function rootSchema(def: KindDefinition): JSONSchemaProps {
  return object(def.description, {
    apiVersion: string('Versioned schema of this object: kmesh.io/v1alpha1.'),
    kind: string(`Kind of this object: ${def.kind}.`),
    // The API server documents metadata (ObjectMeta) itself and forbids describing it here.
    metadata: { type: 'object' },
    spec: required({ ...def.spec }),
    status: def.status,
  });
}

export function renderCrd(def: KindDefinition, options: CrdOptions): CustomResourceDefinition {
  const root = rootSchema(def);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${options.group}`, labels: { 'app.kubernetes.io/part-of': 'kmesh' } },
    spec: {
      group: options.group,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: [options.category],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: options.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: root },
          subresources: { status: {} },
          additionalPrinterColumns: [
            ...def.printerColumns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Time since creation.' },
          ],
        },
      ],
    },
  };
}
