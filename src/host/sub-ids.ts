/**
 * The calling user's subordinate uid/gid ranges (/etc/subuid, /etc/subgid; subuid(5), subgid(5):
 * both files are keyed by login name or by UID), for the user namespace of user-mode containers.
 */
import * as fs from 'node:fs';
import { parseSubIdFile, type SubIdRange } from '../render/config-json.js';

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function hostSubIds(user: string, uid: number): { subuid: SubIdRange | null; subgid: SubIdRange | null } {
  const range = (file: string): SubIdRange | null => {
    const text = read(file);
    return text === null ? null : parseSubIdFile(text, user, uid);
  };
  return { subuid: range('/etc/subuid'), subgid: range('/etc/subgid') };
}
