/**
 * Python `string.Template` semantics, as atomic used them for every template in /exports:
 * `$name` / `${name}` placeholders (name = [_a-zA-Z][_a-zA-Z0-9]*, ASCII, case-insensitive),
 * `$$` for a literal `$`; any other `$` is an "Invalid placeholder" error with line and column.
 * Pure functions: no I/O.
 */
import { AtomicError } from '../util/errors.js';

// Same alternation as Python's Template.pattern: escaped | named | braced | invalid
const PATTERN = /\$(?:(\$)|([_a-zA-Z][_a-zA-Z0-9]*)|\{([_a-zA-Z][_a-zA-Z0-9]*)\}|())/g;

function invalidPlaceholder(template: string, index: number, file: string): AtomicError {
  const before = template.slice(0, index);
  const lines = before.split('\n');
  const lineno = lines.length;
  const colno = lines[lines.length - 1].length + 1;
  return new AtomicError('USAGE', `Invalid placeholder in string: line ${lineno}, col ${colno} (in the template file '${file}')`, {
    suggestions: ['Write a literal "$" as "$$" in the template.'],
  });
}

/** Where a placeholder sits: `template.slice(offset, end)` is `$NAME` or `${NAME}`. */
export interface PlaceholderContext {
  template: string;
  offset: number;
  end: number;
}

/**
 * Per-placeholder hook for context-aware escaping: gets the key, its (present) value and the
 * placeholder position, returns the text to insert (or throws to refuse the value).
 */
export type PlaceholderHook = (key: string, value: string, ctx: PlaceholderContext) => string;

/**
 * Substitute values; a missing variable fails with atomic's exact message naming the file and key
 * (code RENDER_UNKNOWN_VARIABLE, exit 2). `hook`, when given, decides what each value becomes.
 */
export function substitute(template: string, values: Record<string, string>, file: string, hook?: PlaceholderHook): string {
  return template.replace(PATTERN, (m: string, esc: string | undefined, named: string | undefined, braced: string | undefined, _inv: string | undefined, offset: number) => {
    if (esc !== undefined) return '$';
    const key = named ?? braced;
    if (key === undefined) throw invalidPlaceholder(template, offset, file);
    if (!Object.prototype.hasOwnProperty.call(values, key)) {
      throw new AtomicError('RENDER_UNKNOWN_VARIABLE', `The template file '${file}' still contains an unreplaced value for: ''${key}''`, {
        suggestions: [`Set it with --set ${key}=VALUE, or give it a default in /exports/manifest.json "defaultValues".`],
        ref: file,
      });
    }
    const value = values[key];
    return hook ? hook(key, value, { template, offset, end: offset + m.length }) : value;
  });
}

/** The identifiers a template uses, in first-seen order (invalid `$` forms are ignored here). */
export function identifiers(template: string): string[] {
  const seen = new Set<string>();
  for (const m of template.matchAll(PATTERN)) {
    const key = m[2] ?? m[3];
    if (key !== undefined) seen.add(key);
  }
  return [...seen];
}
