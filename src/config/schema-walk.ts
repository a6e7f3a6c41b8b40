import type { z } from 'zod';

/**
 * The configuration schema walked by key: what a table takes, what a key holds in the file. Error
 * messages (issue-text.ts) and the list of keys that flags, variables and reloads derive from
 * (keys.ts) both read the schema through here, so neither keeps a list of its own.
 */
export type Schema = z.core.$ZodType;
export type Path = readonly PropertyKey[];

export function defOf(schema: Schema): z.core.$ZodTypeDef {
  return schema._zod.def;
}

/** The schema of the value as the file holds it: past defaults, optionals and to a transform's input. */
export function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    switch (def.type) {
      case 'optional':
      case 'default':
      case 'prefault':
      case 'nullable':
      case 'nonoptional':
      case 'readonly':
      case 'catch':
        current = (def as z.core.$ZodOptionalDef).innerType;
        continue;
      case 'pipe':
        current = (def as z.core.$ZodPipeDef).in;
        continue;
      default:
        return current;
    }
  }
}

export function childOf(schema: Schema, segment: PropertyKey): Schema | undefined {
  const inner = unwrap(schema);
  const def = defOf(inner);
  switch (def.type) {
    case 'object':
      return typeof segment === 'string' ? (def as z.core.$ZodObjectDef).shape[segment] : undefined;
    case 'record':
      return (def as z.core.$ZodRecordDef).valueType;
    case 'array':
      return (def as z.core.$ZodArrayDef).element;
    case 'union':
      for (const option of (def as z.core.$ZodUnionDef).options) {
        const found = childOf(option, segment);
        if (found !== undefined) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

export function schemaAt(schema: Schema, path: Path): Schema | undefined {
  let current: Schema | undefined = schema;
  for (const segment of path) {
    if (current === undefined) return undefined;
    current = childOf(current, segment);
  }
  return current;
}

/** The keys a table takes (of a user's table too, written either way). */
export function keysOf(schema: Schema | undefined): string[] {
  if (schema === undefined) return [];
  const def = defOf(unwrap(schema));
  if (def.type === 'object') return Object.keys((def as z.core.$ZodObjectDef).shape);
  if (def.type === 'union') return (def as z.core.$ZodUnionDef).options.flatMap((option) => keysOf(option));
  return [];
}

export function isRequired(schema: Schema): boolean {
  return !['optional', 'default', 'prefault'].includes(defOf(schema).type);
}

/** Every key of the fixed tables ([server], [upstream], …), for a key written in the wrong one. */
export function fixedKeyPaths(schema: Schema, prefix: string[] = []): string[][] {
  const def = defOf(unwrap(schema));
  if (def.type !== 'object') return [];
  return Object.entries((def as z.core.$ZodObjectDef).shape).flatMap(([key, child]) => [[...prefix, key], ...fixedKeyPaths(child, [...prefix, key])]);
}

