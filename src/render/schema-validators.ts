/**
 * JSON-schema validators, compiled at build time: `npm run build` runs scripts/gen-validators.mjs,
 * which writes ajv's standalone code for each schema set to dist/src/generated/<key>.cjs together
 * with the hash of the schema text and options it was compiled from. At run time a set whose hash
 * matches the generated module uses it (no ajv load, no compile: ~0.25 s less per install);
 * otherwise (schemas changed, ATOMIC_OCI_SCHEMAS elsewhere, only `tsc` ran) it is compiled with
 * ajv on first use, as before. Both paths give the same ajv error objects.
 */
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';

const require = createRequire(import.meta.url);

export interface SchemaSet {
  /** File name of the generated module (dist/src/generated/KEY.cjs). */
  key: string;
  /** ajv-draft-04 (OCI runtime-spec) or ajv's default draft. */
  draft: '04' | '07';
  options: Record<string, unknown>;
  /** Every schema of the set; each has an id when there are several. */
  schemas: Record<string, unknown>[];
  /** Id of the schema to validate with; undefined: the only schema. */
  rootId?: string;
}

export const GENERATED_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'generated');

export function schemaSetHash(set: SchemaSet): string {
  return createHash('sha256').update(JSON.stringify([set.key, set.draft, set.options, set.schemas, set.rootId ?? null])).digest('hex');
}

interface AjvLike {
  addSchema(schema: object): unknown;
  getSchema(key: string): ValidateFunction | undefined;
  compile(schema: object): ValidateFunction;
}

/** Compile SET with ajv (loaded here, only when needed); EXTRA options are for code generation. */
export function compileSchemaSet(set: SchemaSet, extra: Record<string, unknown> = {}): { ajv: AjvLike; validate: ValidateFunction | undefined } {
  const mod = require(set.draft === '04' ? 'ajv-draft-04' : 'ajv') as { default?: unknown };
  const Ctor = (mod.default ?? mod) as new (o: Record<string, unknown>) => AjvLike;
  const ajv = new Ctor({ ...set.options, ...extra });
  if (set.rootId === undefined) return { ajv, validate: ajv.compile(set.schemas[0]) };
  for (const s of set.schemas) ajv.addSchema(s);
  return { ajv, validate: ajv.getSchema(set.rootId) };
}

/** The validator of SET: the build-time one when it was generated from exactly SET, else compiled now. */
export function validatorFor(set: SchemaSet): ValidateFunction | undefined {
  const hash = schemaSetHash(set);
  try {
    const gen = require(path.join(GENERATED_DIR, `${set.key}.cjs`)) as { hash?: string; validate?: ValidateFunction };
    if (gen.hash === hash && typeof gen.validate === 'function') return gen.validate;
  } catch {
    /* not generated: compile below */
  }
  return compileSchemaSet(set).validate;
}
