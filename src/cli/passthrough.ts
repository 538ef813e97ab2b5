/**
 * atomic's `IMAGE [ARG...]` (argparse REMAINDER): everything after the first positional argument
 * belongs to the image's command, even words that look like our own flags (`--name=ssh.2`,
 * `--info`, `-c`). oclif would parse those, so commands split argv here first and hand oclif only
 * the part up to and including the first positional.
 */
export interface FlagShape {
  type: string;
  char?: string;
}

export interface SplitArgv {
  /** Our flags and the first positional (what oclif parses). */
  head: string[];
  /** The first positional argument, if any. */
  first: string | undefined;
  /** Everything after it, verbatim. */
  rest: string[];
}

export function splitAtFirstPositional(argv: string[], flags: Record<string, FlagShape>): SplitArgv {
  const withValue = new Set<string>();
  const charsWithValue = new Set<string>();
  for (const [name, f] of Object.entries(flags)) {
    if (f.type !== 'option') continue;
    withValue.add(name);
    if (f.char) charsWithValue.add(f.char);
  }
  const head: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i];
    if (t === '--') {
      if (i + 1 < argv.length) return { head: [...head, '--', argv[i + 1]], first: argv[i + 1], rest: argv.slice(i + 2) };
      return { head, first: undefined, rest: [] };
    }
    if (t.startsWith('--') && t.length > 2) {
      head.push(t);
      if (!t.includes('=') && withValue.has(t.slice(2)) && i + 1 < argv.length) head.push(argv[++i]);
      continue;
    }
    if (t.startsWith('-') && t.length > 1) {
      head.push(t);
      if (t.length === 2 && charsWithValue.has(t[1]) && i + 1 < argv.length) head.push(argv[++i]);
      continue;
    }
    return { head: [...head, t], first: t, rest: argv.slice(i + 1) };
  }
  return { head, first: undefined, rest: [] };
}
