/**
 * `/exports/manifest.json` of a system-container image (reference §2.6 step 8, §2.15):
 * parsed, validated against schemas/exports-manifest.schema.json and normalised (defaults filled,
 * defaultValues converted to strings). The only I/O is reading the schema file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { AtomicError } from '../util/errors.js';
import { formatSchemaErrors } from './config-json.js';
import { validatorForFiles, type SchemaSet } from './schema-validators.js';

export interface ExportsManifest {
  /** `version` as written (informational), or null. */
  version: string | number | null;
  /** Template defaults, every value a string (numbers via String(), booleans "true"/"false"). */
  defaultValues: Record<string, string>;
  /** Default false: the image has a container service (unit). */
  noContainerService: boolean;
  /** Default []. */
  installedFilesTemplate: string[];
  /** Default {} (values are templates, rendered by the caller). */
  renameFiles: Record<string, string>;
  /** Default true. */
  useLinks: boolean;
  /** The whole parsed object, unknown keys included. */
  raw: Record<string, unknown>;
}

const KNOWN_KEYS = ['version', 'defaultValues', 'noContainerService', 'installedFilesTemplate', 'renameFiles', 'useLinks', 'healthCheck'];
const IDENTIFIER = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

const here = path.dirname(fileURLToPath(import.meta.url));

/** `<package root>/schemas/exports-manifest.schema.json`. */
export function exportsManifestSchemaPath(): string {
  let d = here;
  for (;;) {
    if (fs.existsSync(path.join(d, 'package.json'))) return path.join(d, 'schemas', 'exports-manifest.schema.json');
    const up = path.dirname(d);
    if (up === d) throw new AtomicError('INTERNAL', `Cannot find the package root (package.json) above ${here}`);
    d = up;
  }
}

/** schemas/exports-manifest.schema.json as a schema set (compiled at build time, scripts/gen-validators.mjs). */
export function exportsManifestSchemaSet(): SchemaSet {
  const file = exportsManifestSchemaPath();
  const schema = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { key: 'exports-manifest', draft: '07', options: { allErrors: true, strict: false }, schemas: [schema], files: [file] };
}

let validator: ValidateFunction | undefined;
function manifestValidator(): ValidateFunction {
  if (!validator) validator = validatorForFiles('exports-manifest', [exportsManifestSchemaPath()], exportsManifestSchemaSet) as ValidateFunction;
  return validator;
}

/**
 * Parse and validate manifest.json. `file` names it in messages; `image` (optional) gives atomic's
 * "Invalid manifest.json file in image: <img>." wording (the file is used when absent).
 * Invalid JSON → IMAGE_INVALID; schema problems → one SCHEMA_INVALID error listing each problem.
 * Unknown top-level keys and defaultValues keys that cannot be template names are warnings.
 */
export function parseExportsManifest(text: string, file: string, image?: string): { manifest: ExportsManifest; warnings: string[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new AtomicError('IMAGE_INVALID', `Invalid manifest.json file in image: ${image ?? file}. (${image ? `${file}: ` : ''}${(e as Error).message})`, {
      suggestions: ['The image ships a broken /exports/manifest.json; fix the image.'],
      ref: file,
      cause: e,
    });
  }
  const validate = manifestValidator();
  if (!validate(data)) {
    const lines = formatSchemaErrors(validate.errors);
    throw new AtomicError('SCHEMA_INVALID', `Invalid manifest.json file ${file}${image ? ` in image ${image}` : ''}:\n${lines.map((l) => `  ${l}`).join('\n')}`, {
      suggestions: ['The image ships an invalid /exports/manifest.json; fix the image.'],
      ref: file,
    });
  }
  const raw = data as Record<string, unknown>;
  const warnings: string[] = [];
  for (const k of Object.keys(raw)) {
    if (!KNOWN_KEYS.includes(k)) warnings.push(`${file}: unknown key "${k}" ignored`);
  }
  const defaultValues: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw.defaultValues as Record<string, string | number | boolean> | undefined) ?? {})) {
    if (!IDENTIFIER.test(k)) warnings.push(`${file}: defaultValues key "${k}" is not a valid template variable name and can never be used`);
    Object.defineProperty(defaultValues, k, { value: String(v), enumerable: true, writable: true, configurable: true });
  }
  const manifest: ExportsManifest = {
    version: (raw.version as string | number | undefined) ?? null,
    defaultValues,
    noContainerService: (raw.noContainerService as boolean | undefined) ?? false,
    installedFilesTemplate: [...((raw.installedFilesTemplate as string[] | undefined) ?? [])],
    renameFiles: { ...((raw.renameFiles as Record<string, string> | undefined) ?? {}) },
    useLinks: (raw.useLinks as boolean | undefined) ?? true,
    raw,
  };
  return { manifest, warnings };
}
