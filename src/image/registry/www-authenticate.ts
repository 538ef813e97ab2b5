/**
 * `WWW-Authenticate` challenges (RFC 7235): `Scheme k=v, k="quoted, value", ...`, possibly several
 * challenges in one header (`Basic realm="x", Bearer realm="y",service="z"`). Scheme names are
 * lower-cased; parameter names too; quoted values are unescaped.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

export function parseWwwAuthenticate(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const headers = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const h of headers) {
    let i = 0;
    const n = h.length;
    let cur: Challenge | null = null;
    const ws = (): void => {
      while (i < n && (h[i] === ' ' || h[i] === '\t')) i++;
    };
    while (i < n) {
      ws();
      if (h[i] === ',') {
        i++;
        continue;
      }
      const tok = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(h.slice(i));
      if (!tok) break;
      const name = tok[0];
      i += name.length;
      ws();
      if (h[i] === '=' && cur) {
        // auth-param of the current challenge
        i++;
        ws();
        let value = '';
        if (h[i] === '"') {
          i++;
          while (i < n && h[i] !== '"') {
            if (h[i] === '\\' && i + 1 < n) i++;
            value += h[i++];
          }
          i++;
        } else {
          const v = /^[^,\s]*/.exec(h.slice(i))![0];
          value = v;
          i += v.length;
        }
        cur.params[name.toLowerCase()] = value;
      } else if (h[i] === '=' && !cur) {
        break; // malformed: a parameter before any scheme
      } else {
        cur = { scheme: name.toLowerCase(), params: {} };
        out.push(cur);
      }
    }
  }
  return out;
}
