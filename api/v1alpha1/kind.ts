/** The shape every Kmesh kind is declared with; `api/crd.ts` turns it into a CustomResourceDefinition. */
import type { JSONSchemaProps } from '../schema.js';

/** A printer column, shown by `kubectl get` (Age is added to every kind). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 0 shows the column in `kubectl get`; 1 only with `-o wide`. */
  priority?: number;
}

/** One Kmesh kind: its names, spec and status schemas and printer columns. */
export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  /** What the kind is, for `kubectl explain <kind>`. */
  description: string;
  spec: JSONSchemaProps;
  status: JSONSchemaProps;
  printerColumns: PrinterColumn[];
}
