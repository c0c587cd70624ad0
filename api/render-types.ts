/**
 * Renders TypeScript interfaces from the kind definitions, with each field's description as TSDoc.
 * Object schemas are emitted as named interfaces: the name given with `named()`, or else the parent's
 * name plus the property's (DataFlowSpec.policy -> DataFlowPolicy).
 */
import type { KindDefinition } from './v1alpha1/kind.js';
import { typeName, type JSONSchemaProps } from './schema.js';

const WRAP_COLUMNS = 100;

function pascal(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

function singular(word: string): string {
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('s')) return word.slice(0, -1);
  return `${word}Item`;
}

function docComment(text: string | undefined, indent: string): string {
  if (!text) return '';
  const words = text.replace(/\*\//g, '* /').split(/\s+/);
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && indent.length + 3 + line.length + 1 + word.length > WRAP_COLUMNS) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  if (lines.length === 1) return `${indent}/** ${lines[0]} */\n`;
  return `${indent}/**\n${lines.map((l) => `${indent} * ${l}`).join('\n')}\n${indent} */\n`;
}

function propertyKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}

/** Collects named interfaces while types are rendered, and rejects two different shapes under one name. */
class TypeWriter {
  /** Interface name -> its declaration; `body` alone is compared when a name comes back. */
  private readonly interfaces = new Map<string, { header: string; body: string }>();

  /** Renders `schema` as a type expression; objects become interfaces named `suggested` unless named. */
  type(schema: JSONSchemaProps, suggested: string): string {
    if (schema['x-kubernetes-int-or-string']) return 'number | string';
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
    switch (schema.type) {
      case 'string':
        return 'string';
      case 'integer':
      case 'number':
        return 'number';
      case 'boolean':
        return 'boolean';
      case 'array': {
        if (!schema.items) throw new Error(`array ${suggested} has no items schema`);
        const item = this.type(schema.items, singular(suggested));
        return item.includes(' ') ? `Array<${item}>` : `${item}[]`;
      }
      case 'object':
        if (schema.properties) return this.declare(typeName(schema) ?? suggested, schema);
        if (schema.additionalProperties)
          return `Record<string, ${this.type(schema.additionalProperties, `${suggested}Value`)}>`;
        return 'Record<string, unknown>';
      default:
        throw new Error(`schema ${suggested} has no type`);
    }
  }

  /** Declares an interface (once) and returns its name. */
  declare(name: string, schema: JSONSchemaProps, header = ''): string {
    // Reserve the slot first so a parent is declared before the interfaces its fields introduce.
    const existing = this.interfaces.get(name);
    if (existing === undefined) this.interfaces.set(name, { header, body: '' });
    const required = new Set(schema.required ?? []);
    const memberPrefix = name.replace(/Spec$/, '');
    let body = '';
    for (const [key, property] of Object.entries(schema.properties ?? {})) {
      const type = this.type(property, `${memberPrefix}${pascal(key)}`);
      body += docComment(property.description, '  ');
      body += `  ${propertyKey(key)}${required.has(key) ? '' : '?'}: ${type};\n`;
    }
    if (existing === undefined) this.interfaces.set(name, { header, body });
    else if (existing.body !== body) {
      throw new Error(`two different schemas are both named ${name}; give one of them another name`);
    }
    return name;
  }

  /** Adds a hand-shaped declaration (the top-level kinds). */
  raw(name: string, text: string): void {
    this.interfaces.set(name, { header: text, body: '' });
  }

  render(): string {
    return [...this.interfaces.entries()]
      .map(([name, { header, body }]) => (body ? `${header}export interface ${name} {\n${body}}\n` : header))
      .join('\n');
  }
}

/** The whole generated types module for `kinds`. */
export function renderTypes(kinds: readonly KindDefinition[], apiVersion: string, generator: string): string {
  const writer = new TypeWriter();
  for (const def of kinds) {
    const spec = writer.declare(`${def.kind}Spec`, def.spec, docComment(def.spec.description, ''));
    const status = writer.declare(`${def.kind}Status`, def.status, docComment(def.status.description, ''));
    writer.raw(
      def.kind,
      `${docComment(def.description, '')}export interface ${def.kind} {\n` +
        `  apiVersion: '${apiVersion}';\n  kind: '${def.kind}';\n  metadata: ObjectMeta;\n` +
        `  spec: ${spec};\n  status?: ${status};\n}\n`,
    );
  }
  return (
    `// Code generated by ${generator}. DO NOT EDIT.\n` +
    `// Source: the kind definitions in api/v1alpha1/*.ts. Run \`npm run generate\` after changing them.\n\n` +
    `import type { ObjectMeta } from '../../meta.js';\n\n` +
    writer.render()
  );
}
