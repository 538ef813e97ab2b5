/**
 * GPG "simple signing" verification with Debian's `gpgv` (package gpgv, priority required: it is
 * on every Debian system, it is what apt uses to check repository signatures, and it only
 * verifies — it never changes a keyring). The trusted keys are written to a fresh keyring in a
 * private temporary home, so only the keys the policy names can make a signature valid.
 *
 * gpgv reads binary keyrings only: ASCII-armored key files are de-armored here (RFC 4880 §6).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AtomicError } from '../../util/errors.js';
import { atomicEnv } from '../../util/env.js';
import { removeTreeSync } from '../../util/remove-tree.js';

/** Largest signed content we accept from gpgv (a simple-signing payload is a few hundred bytes). */
const MAX_CONTENT = 4 * 1024 * 1024;
const GPGV = atomicEnv('ATOMIC_GPGV') ?? 'gpgv';

/** RFC 4880 armor → binary, every `-----BEGIN PGP ...-----` block of the text, concatenated. */
export function dearmor(data: Buffer): Buffer {
  const text = data.toString('latin1');
  if (!text.includes('-----BEGIN PGP')) return data;
  const out: Buffer[] = [];
  const re = /-----BEGIN PGP ([A-Z ,0-9/]+)-----\r?\n([\s\S]*?)-----END PGP \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = m[2]!.replace(/\r/g, '');
    // Armor headers end at the first empty line (there may be none).
    const blank = body.indexOf('\n\n');
    const b64 = (blank >= 0 && /^[A-Za-z-]+: /.test(body) ? body.slice(blank + 2) : body)
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('='))
      .join('');
    out.push(Buffer.from(b64, 'base64'));
  }
  if (out.length === 0) throw new Error('no complete ASCII-armored block');
  return Buffer.concat(out);
}

export type GpgResult =
  | { ok: true; content: Buffer; fingerprint: string; signingKey: string }
  | { ok: false; reason: string };

function statusLines(status: string, kw: string): string[][] {
  return status
    .split('\n')
    .filter((l) => l.startsWith(`[GNUPG:] ${kw} `) || l === `[GNUPG:] ${kw}`)
    .map((l) => l.split(' ').slice(2));
}

/** Verify one signature (an OpenPGP signed message) against a binary keyring. */
export async function gpgvVerify(signature: Buffer, keyring: Buffer): Promise<GpgResult> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'atomic-gpgv-'));
  try {
    fs.chmodSync(home, 0o700);
    const ring = path.join(home, 'trusted.gpg');
    const sigFile = path.join(home, 'signature');
    fs.writeFileSync(ring, keyring, { mode: 0o600 });
    fs.writeFileSync(sigFile, signature, { mode: 0o600 });
    const r = await new Promise<{ code: number | null; out: Buffer; status: string; err: string; overflow: boolean }>((resolve, reject) => {
      const child = spawn(GPGV, ['--homedir', home, '--keyring', ring, '--status-fd', '3', '--output', '-', sigFile], {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, LC_ALL: 'C', LANGUAGE: 'C' },
      });
      const out: Buffer[] = [];
      let outLen = 0;
      let overflow = false;
      let status = '';
      let err = '';
      child.stdout!.on('data', (c: Buffer) => {
        outLen += c.length;
        if (outLen > MAX_CONTENT) {
          overflow = true;
          child.kill('SIGKILL');
        } else out.push(c);
      });
      (child.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => (status += c.toString('utf8')));
      child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
      child.on('error', (e) => {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new AtomicError('NOT_SUPPORTED', `gpgv is not installed: GPG signatures (signedBy) cannot be verified`, { suggestions: ['apt-get install gpgv'] }));
        } else reject(e);
      });
      child.on('close', (code) => resolve({ code, out: Buffer.concat(out), status, err, overflow }));
    });
    if (r.overflow) return { ok: false, reason: `the signed content is larger than ${MAX_CONTENT} bytes` };
    const newsig = statusLines(r.status, 'NEWSIG').length;
    if (newsig > 1) return { ok: false, reason: `the signature file holds ${newsig} signatures, expected 1` };
    const bad = ['BADSIG', 'EXPSIG', 'EXPKEYSIG', 'REVKEYSIG', 'ERRSIG', 'NO_PUBKEY'].find((k) => statusLines(r.status, k).length > 0);
    if (bad === 'NO_PUBKEY' || bad === 'ERRSIG') {
      const id = (statusLines(r.status, 'NO_PUBKEY')[0] ?? statusLines(r.status, 'ERRSIG')[0] ?? [])[0] ?? '?';
      return { ok: false, reason: `signed by key ${id}, which is not one of the policy's keys` };
    }
    if (bad) return { ok: false, reason: `gpgv reports ${bad} (${bad === 'BADSIG' ? 'the signature does not match the signed data' : 'expired or revoked key or signature'})` };
    const valid = statusLines(r.status, 'VALIDSIG')[0];
    if (r.code !== 0 || !valid || statusLines(r.status, 'GOODSIG').length !== 1) {
      const why = r.err.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit status ${r.code}`;
      return { ok: false, reason: `not a valid signature (${why})` };
    }
    const signingKey = valid[0]!;
    const fingerprint = valid[9] ?? signingKey;
    return { ok: true, content: r.out, fingerprint, signingKey };
  } finally {
    removeTreeSync(home);
  }
}
