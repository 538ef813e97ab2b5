/**
 * `atomic containers config NAME [--json]` shows the option record of a container;
 * `atomic containers config NAME KEY=VALUE... [--unset KEY]...` changes it (docs/options.md).
 * A change is validated completely first (schema, Interlinked, calendar expressions), then
 * deployed like an update: a new slot rendered with the record, switched atomically, the service
 * restarted if it was running; the host file /etc/containers/atomic/NAME.conf is rewritten
 * (atomically) by the activation, so a failure leaves record, deployment and file as they were.
 * `containers rollback NAME` brings back the previous record with its deployment.
 */
import type { AppContext } from '../context.js';
import { validateContainerName } from '../../deploy/container-name.js';
import { canonicalKey, parseOptionAssignments, recordLines, sameRecord, type OptionRecord } from '../../render/options.js';
import { containerNotInstalled } from '../../deploy/layout.js';
import { AtomicError } from '../../util/errors.js';
import { readOptionRecord, effectiveRecord, checkOptionRecord, type OptionRecordView } from './option-record.js';
import { updateContainer } from './update.js';

export interface ConfigOptions {
  name: string;
  /** KEY=VALUE words. */
  set?: string[];
  /** Keys to remove. */
  unset?: string[];
}

export interface ConfigResult {
  /** The record shown (after the change, when there was one). */
  view: OptionRecordView;
  /** A new deployment was made. */
  changed: boolean;
}

export function showConfig(ctx: AppContext, name: string): OptionRecordView {
  validateContainerName(name);
  const v = readOptionRecord(ctx, name);
  if (v === null) throw containerNotInstalled(name);
  return v;
}

export async function configContainer(ctx: AppContext, o: ConfigOptions): Promise<ConfigResult> {
  validateContainerName(o.name);
  if (readOptionRecord(ctx, o.name) === null) throw containerNotInstalled(o.name);
  const changes = parseOptionAssignments(o.set ?? []);
  const unset = (o.unset ?? []).map((k) => canonicalKey(k, '--unset: '));
  for (const k of unset) {
    if (k in changes)
      throw new AtomicError('USAGE', `${k} is both set (${k}=${changes[k]}) and unset (--unset ${k})`, { suggestions: [`Give either ${k}=VALUE or --unset ${k}.`] });
  }
  const before = effectiveRecord(ctx, o.name);
  const record: OptionRecord = { ...before, ...changes };
  for (const k of unset) delete record[k];
  // everything is checked before anything is written (update checks again under its locks)
  checkOptionRecord(ctx, o.name, record, 'the option record');
  const view = readOptionRecord(ctx, o.name) as OptionRecordView;
  if (sameRecord(record, view.deployed) && (view.hostFile === null || sameRecord(view.hostFile, record))) {
    ctx.out.line(`The option record of ${o.name} is unchanged.`);
    return { view, changed: false };
  }
  ctx.out.line(`Deploying ${o.name} with the option record: ${recordLines(record).join(' ') || '(empty)'}`);
  const r = await updateContainer(ctx, { name: o.name, options: record, optionsSource: 'the option record' });
  return { view: readOptionRecord(ctx, o.name) as OptionRecordView, changed: r.updated };
}
