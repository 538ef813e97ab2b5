/**
 * JSON-schema validators, compiled at build time: `npm run build` runs scripts/gen-validators.mjs,
 * which writes ajv's standalone code for each schema set to dist/src/generated/<key>.cjs together
 * with the hash of the schema text and options it was compiled from. At run time a set whose hash
 * matches the generated module uses it (no ajv load, no compile: ~0.25 s less per install);
 * otherwise (schemas changed, ATOMIC_OCI_SCHEMAS elsewhere, only `tsc` ran) it is compiled with
 * ajv on first use, as before. Both paths give the same ajv error objects.
 *
 * Each generated module comes with a V8 code cache (KEY.cjs.v8cache, written by the build after a
 * warm-up validation): compiling the 238 KB runtime-spec validator and its first run cost ~20 ms of
 * CPU per install, ~8 ms with the cache. V8 checks the cache against the source and its own version
 * and flags; a rejected or missing cache just means a normal compile.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
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
  /** The files the schemas were read from (absolute paths, in reading order): the build stamps them, see validatorForFiles. */
  files?: string[];
}

export const GENERATED_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'generated');

/**
 * The stamp of FILES: each path with its size and mtime, in order (undefined when one cannot be
 * stat'ed). The build writes the stamp of the files a generated validator was compiled from;
 * while it matches, validatorForFiles uses that validator without reading the files - the rule
 * oclif.manifest.json is trusted by (scripts/gen-manifest.mjs).
 */
export function filesStamp(files: readonly string[]): string | undefined {
  try {
    return JSON.stringify(
      files.map((f) => {
        const st = fs.statSync(f);
        return [f, st.size, st.mtimeMs];
      }),
    );
  } catch {
    return undefined;
  }
}

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

interface GeneratedModule {
  hash?: string;
  /** filesStamp() of the set's files when it was generated (absent: not generated from files). */
  stamp?: string;
  validate?: ValidateFunction;
}

/** Compile and run the CommonJS module FILE the way node's loader does, with its code cache when there is one. */
function runGenerated(file: string, cachedData?: Buffer): { exports: GeneratedModule; script: vm.Script } {
  const src = fs.readFileSync(file, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${src}\n})`, { filename: file, cachedData });
  const m = { exports: {} as GeneratedModule };
  (script.runInThisContext() as (...a: unknown[]) => void)(m.exports, createRequire(file), m, file, path.dirname(file));
  return { exports: m.exports, script };
}

const loaded = new Map<string, GeneratedModule>();
const cacheRejected = new Map<string, boolean | undefined>();

/** The generated module KEY (dist/src/generated/KEY.cjs), loaded once. */
export function loadGenerated(key: string): GeneratedModule {
  const have = loaded.get(key);
  if (have) return have;
  const file = path.join(GENERATED_DIR, `${key}.cjs`);
  let cache: Buffer | undefined;
  try {
    cache = fs.readFileSync(`${file}.v8cache`);
  } catch {
    /* no cache: a normal compile */
  }
  const { exports, script } = runGenerated(file, cache);
  loaded.set(key, exports);
  cacheRejected.set(key, cache === undefined ? undefined : script.cachedDataRejected);
  return exports;
}

/** Whether V8 refused KEY's code cache when it was loaded (undefined: not loaded, or no cache). */
export function codeCacheRejected(key: string): boolean | undefined {
  return cacheRejected.get(key);
}

/** Build time (scripts/gen-validators.mjs): KEY's code cache, taken after WARM ran its validator. */
export function writeCodeCache(key: string, warm: (validate: ValidateFunction) => void): void {
  const file = path.join(GENERATED_DIR, `${key}.cjs`);
  const { exports, script } = runGenerated(file);
  if (typeof exports.validate === 'function') warm(exports.validate);
  fs.writeFileSync(`${file}.v8cache.tmp`, script.createCachedData());
  fs.renameSync(`${file}.v8cache.tmp`, `${file}.v8cache`);
}

/** The validator of SET: the build-time one when it was generated from exactly SET, else compiled now. */
export function validatorFor(set: SchemaSet): ValidateFunction | undefined {
  const hash = schemaSetHash(set);
  try {
    const gen = loadGenerated(set.key);
    if (gen.hash === hash && typeof gen.validate === 'function') return gen.validate;
  } catch {
    /* not generated: compile below */
  }
  return compileSchemaSet(set).validate;
}

/**
 * The validator of the set BUILD() reads from FILES (the set's `files`), generated as KEY: the
 * build-time one without reading the files while they are the ones it was generated from
 * (filesStamp), else validatorFor(BUILD()) - the schemas read, hashed and compared as before.
 * Reading, parsing and hashing the runtime-spec schemas (13 files, 100 KB) was ~25 M
 * instructions of each install, and the only use of node:crypto there.
 */
export function validatorForFiles(key: string, files: readonly string[], build: () => SchemaSet): ValidateFunction | undefined {
  const stamp = filesStamp(files);
  if (stamp !== undefined) {
    try {
      const gen = loadGenerated(key);
      if (gen.stamp === stamp && typeof gen.validate === 'function') return gen.validate;
    } catch {
      /* not generated: below */
    }
  }
  return validatorFor(build());
}
