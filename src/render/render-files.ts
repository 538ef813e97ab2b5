/**
 * Context-aware, injection-safe rendering of the /exports templates (reference §2.9, §5).
 *
 * atomic substituted values raw, so a `--set` value (or a manifest default) containing `"`,
 * a newline or `\n[Service]\nExecStartPre=...` could add JSON fields or systemd directives.
 * Here the Python `string.Template` syntax and atomic's error messages are kept
 * (python-template.ts), but each placeholder is escaped or checked for the file it lands in:
 *
 * - config.json.template: a placeholder inside a JSON string literal is JSON-string-escaped (so any
 *   value, with quotes, spaces, `$`, backslashes or newlines, stays inside that string); outside a
 *   string only a JSON scalar (number, true, false, null) may be inserted, plus the trusted
 *   ALL_PROCESS_CAPABILITIES list (accepted only when it really is a list of quoted CAP_ names).
 *   Anything else is refused (RENDER_UNSAFE_VALUE). The result must parse as a JSON object.
 * - service.template (systemd unit): values containing LF, CR or NUL, or ending in a backslash
 *   (line continuation), are refused: they could start new directives or sections. Values are
 *   otherwise inserted as-is: systemd `%` specifiers (and `$VAR` in Exec lines) in a value are
 *   expanded by systemd, exactly as with atomic — write `%%` in a value for a literal `%`.
 *   The EXEC_* values computed by values.ts are already quoted for systemd.
 * - tmpfiles.template: values containing LF, CR or NUL are refused; in the path..age fields
 *   (fields 1-6) whitespace, quotes and backslashes are refused too (they would shift or merge
 *   fields), and so is an empty value that makes up a whole field; the 7th field (argument, the
 *   rest of the line) may contain spaces. `%` specifiers pass through (tmpfiles expands them).
 *
 * Missing variables keep atomic's message ("The template file '<file>' still contains an
 * unreplaced value for: ''KEY''"), naming the file that is really being rendered (atomic named
 * the service template when the tmpfiles template was missing a value).
 */
import { AtomicError } from '../util/errors.js';
import { substitute, type PlaceholderContext } from './python-template.js';

const JSON_SCALAR = /^(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null)$/;
/** The shape of ALL_PROCESS_CAPABILITIES: `"CAP_X",\n"CAP_Y"\n` (any whitespace, possibly empty). */
const CAPABILITY_LIST = /^\s*(?:"CAP_[A-Z0-9_]+"\s*(?:,\s*"CAP_[A-Z0-9_]+"\s*)*)?$/;

function preview(v: string): string {
  const s = v.length > 60 ? v.slice(0, 57) + '...' : v;
  return JSON.stringify(s);
}

function unsafe(key: string, file: string, why: string, suggestion: string): AtomicError {
  return new AtomicError('RENDER_UNSAFE_VALUE', `The value of ${key} cannot be used in the template file '${file}': ${why}`, {
    suggestions: [suggestion],
    ref: file,
  });
}

/** For each offset of the template: is it inside a JSON string literal? (placeholders never contain quotes) */
function jsonStringMask(t: string): Uint8Array {
  const mask = new Uint8Array(t.length);
  let inStr = false;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i];
    if (!inStr) {
      if (ch === '"') inStr = true;
      continue;
    }
    mask[i] = 1;
    if (ch === '\\' && i + 1 < t.length && t[i + 1] !== '$') {
      mask[++i] = 1;
    } else if (ch === '"') {
      mask[i] = 0;
      inStr = false;
    }
  }
  return mask;
}

/**
 * Render exports/config.json.template. Returns the parsed object; throws RENDER_UNKNOWN_VARIABLE,
 * RENDER_UNSAFE_VALUE or RENDER_INVALID_JSON (all naming `file`).
 */
export function renderConfigJsonTemplate(text: string, values: Record<string, string>, file: string): Record<string, unknown> {
  const mask = jsonStringMask(text);
  const out = substitute(text, values, file, (key: string, value: string, ctx: PlaceholderContext) => {
    if (mask[ctx.offset]) return JSON.stringify(value).slice(1, -1);
    if (JSON_SCALAR.test(value)) return value;
    if (key === 'ALL_PROCESS_CAPABILITIES' && CAPABILITY_LIST.test(value)) return value;
    throw unsafe(
      key,
      file,
      `outside a JSON string only a number, true, false or null can be inserted, got ${preview(value)}`,
      `Put the placeholder inside a JSON string in the template ("$${key}"), or set ${key} to a plain number or boolean.`,
    );
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(out);
  } catch (e) {
    throw new AtomicError('RENDER_INVALID_JSON', `Invalid json in configuration file: ${file}. (${(e as Error).message})`, {
      suggestions: ['Fix the JSON syntax of the template in the image.'],
      ref: file,
      cause: e,
    });
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AtomicError('RENDER_INVALID_JSON', `Invalid json in configuration file: ${file}. (the top level must be a JSON object)`, { ref: file });
  }
  return parsed as Record<string, unknown>;
}

const LINE_BREAK = /[\n\r\0]/;

/**
 * systemd reads unit and tmpfiles.d files with read_line(LONG_LINE_MAX = 1 MiB): a longer line
 * makes the whole file fail to load (after tmpfiles may already have acted on earlier lines).
 * A value that long is refused when it is substituted, and every rendered line is checked.
 */
export const SYSTEMD_LINE_MAX = 1024 * 1024;

function checkLineLength(key: string, value: string, file: string): void {
  const n = Buffer.byteLength(value);
  if (n >= SYSTEMD_LINE_MAX) {
    throw unsafe(key, file, `it is ${n} bytes long, and systemd refuses lines of ${SYSTEMD_LINE_MAX} bytes or more (LONG_LINE_MAX), so the whole file would not load`, `Set ${key} to a shorter value (pass large data through a file in the container instead).`);
  }
}

function checkRenderedLines(text: string, file: string): string {
  let line = 1;
  for (const l of text.split('\n')) {
    const n = Buffer.byteLength(l);
    if (n >= SYSTEMD_LINE_MAX) {
      throw new AtomicError('RENDER_UNSAFE_VALUE', `Line ${line} of the file rendered from '${file}' is ${n} bytes long; systemd refuses lines of ${SYSTEMD_LINE_MAX} bytes or more (LONG_LINE_MAX)`, {
        ref: file,
        suggestions: ['Use shorter values for the variables on that line (--set KEY=VALUE).'],
      });
    }
    line++;
  }
  return text;
}

/** Render exports/service.template (or the default template) into a systemd unit. */
export function renderUnitTemplate(text: string, values: Record<string, string>, file: string): string {
  return checkRenderedLines(renderUnit(text, values, file), file);
}

function renderUnit(text: string, values: Record<string, string>, file: string): string {
  return substitute(text, values, file, (key: string, value: string) => {
    checkLineLength(key, value, file);
    if (LINE_BREAK.test(value)) {
      throw unsafe(
        key,
        file,
        'it contains a newline, carriage return or NUL character, which could add systemd directives',
        `Set ${key} to a single-line value.`,
      );
    }
    if (value.endsWith('\\')) {
      throw unsafe(key, file, 'it ends with a backslash, which would continue the line in a systemd unit', `Remove the trailing backslash from ${key}.`);
    }
    return value;
  });
}

/** Index (0-based) of the tmpfiles field a placeholder at `offset` starts in, or -1 on a comment line. */
function tmpfilesField(t: string, offset: number): number {
  const lineStart = t.lastIndexOf('\n', offset - 1) + 1;
  const prefix = t.slice(lineStart, offset);
  const trimmed = prefix.replace(/^[ \t]+/, '');
  if (trimmed.startsWith('#')) return -1;
  const tokens = trimmed.split(/[ \t]+/).filter((x) => x !== '');
  if (prefix === '' || /[ \t]$/.test(prefix)) return tokens.length;
  return tokens.length - 1;
}

/** Render exports/tmpfiles.template. */
export function renderTmpfilesTemplate(text: string, values: Record<string, string>, file: string): string {
  return checkRenderedLines(renderTmpfiles(text, values, file), file);
}

function renderTmpfiles(text: string, values: Record<string, string>, file: string): string {
  return substitute(text, values, file, (key: string, value: string, ctx: PlaceholderContext) => {
    checkLineLength(key, value, file);
    if (LINE_BREAK.test(value)) {
      throw unsafe(key, file, 'it contains a newline, carriage return or NUL character, which would add tmpfiles lines', `Set ${key} to a single-line value.`);
    }
    const field = tmpfilesField(ctx.template, ctx.offset);
    if (field < 0 || field >= 6) return value; // comment, or the argument (rest of the line)
    if (/[\s"'\\]/.test(value)) {
      throw unsafe(
        key,
        file,
        `it contains whitespace, a quote or a backslash, which would shift the fields of the tmpfiles line (got ${preview(value)})`,
        `Set ${key} to a value without spaces, quotes or backslashes.`,
      );
    }
    if (value === '') {
      const before = ctx.offset === 0 ? '\n' : ctx.template[ctx.offset - 1];
      const after = ctx.end >= ctx.template.length ? '\n' : ctx.template[ctx.end];
      if (/[\s]/.test(before) && /[\s]/.test(after)) {
        throw unsafe(key, file, 'it is empty and makes up a whole field, which would shift the fields of the tmpfiles line', `Set ${key} to a non-empty value (use "-" for a default field).`);
      }
    }
    return value;
  });
}

/**
 * tmpfiles lines for bind-mount sources that do not exist (atomic's `_generate_tmpfiles_data`):
 * `d    <path>   0700 <uid> <gid> - -\n` per source (exact spacing: 4 spaces, 3 spaces, 1 space).
 * `%` in a path is doubled (tmpfiles would expand it as a specifier); a path that is not absolute
 * or contains whitespace, quotes, backslashes or control characters is refused.
 */
export function generateMissingBindTmpfiles(sources: string[], uid: number, gid: number): string {
  return sources
    .map((p) => {
      // eslint-disable-next-line no-control-regex -- deliberate control-character match
      if (!p.startsWith('/') || /[\s"'\\\x00-\x1f\x7f]/.test(p)) {
        throw new AtomicError('RENDER_UNSAFE_VALUE', `Cannot generate a tmpfiles line for the bind mount source ${preview(p)}: it must be an absolute path without whitespace, quotes, backslashes or control characters`, {
          suggestions: ['Create the directory yourself, or ship a tmpfiles.template in the image.'],
          ref: p,
        });
      }
      return `d    ${p.replace(/%/g, '%%')}   0700 ${uid} ${gid} - -\n`;
    })
    .join('');
}
