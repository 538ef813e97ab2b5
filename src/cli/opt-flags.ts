/**
 * atomic's hidden `--opt1/--opt2/--opt3` (util.add_opt) of install, run and uninstall: each value,
 * with $VAR/${VAR} expanded from our environment (Python's os.path.expandvars: unknown variables
 * are left as written), becomes $OPT1..$OPT3 in the environment of the label command (INSTALL,
 * RUN, UNINSTALL), whose text can use them.
 */
import { Flags } from '@oclif/core';

export const optFlags = {
  opt1: Flags.string({ description: 'Value of $OPT1 for the image\'s label command.', hidden: true }),
  opt2: Flags.string({ description: 'Value of $OPT2 for the image\'s label command.', hidden: true }),
  opt3: Flags.string({ description: 'Value of $OPT3 for the image\'s label command.', hidden: true }),
};

/** os.path.expandvars on POSIX: `$NAME` and `${NAME}` of set variables are replaced; the rest stays. */
export function expandVars(s: string, env: NodeJS.ProcessEnv = process.env): string {
  return s.replace(/\$(\w+|\{[^}]*\})/g, (m, v: string) => {
    const name = v.startsWith('{') ? v.slice(1, -1) : v;
    const val = env[name];
    return val === undefined ? m : val;
  });
}

/** Export the given --optN values as OPTN for the commands this process runs. */
export function exportOptEnv(flags: { opt1?: string; opt2?: string; opt3?: string }): void {
  for (const [flag, env] of [['opt1', 'OPT1'], ['opt2', 'OPT2'], ['opt3', 'OPT3']] as const) {
    const v = flags[flag];
    if (v) process.env[env] = expandVars(v);
  }
}
