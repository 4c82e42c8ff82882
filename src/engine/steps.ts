import type { Job, JobDisposition, JobTransaction } from '../storage/ports.js';
import type { ProviderDescriptor, PushProvider } from '../providers/provider.js';
import type { EngineSettings } from './engine-settings.js';
import { backoffDelay } from './backoff.js';

/** What a step needs besides the transaction: settings and the clock. */
export interface StepContext {
  settings: EngineSettings;
  random?: () => number;
}

const describe = (tx: JobTransaction) => `${tx.action.indicator.value}`;
const others = (n: number) => (n === 1 ? '1 other active action' : `${n} other active actions`);

/**
 * Applying a pull provider's change (feeds, agents): add the indicator to the ledger in the same
 * transaction as the state transitions. Feeds complete at once (published = in force for every
 * reader); agent providers complete when every registered agent has confirmed the change.
 */
export async function applyByLedger(tx: JobTransaction, provider: ProviderDescriptor): Promise<JobDisposition> {
  if (tx.action.status === 'NotStarted') await tx.transition({ status: 'Running', reason: `dispatched to ${provider.name}` });
  const added = await tx.ledgerAdd();
  if (provider.completion === 'published') {
    const refs = added ? added.refcount - 1 : 0;
    await tx.transition({ status: 'Completed', reason: `published by ${provider.name}: ${describe(tx)} is blocked${refs > 0 ? ` (also covered by ${others(refs)})` : ''}` });
    return { kind: 'finish' };
  }
  const change = added?.change ?? { seq: 0 };
  const agents = await tx.agents();
  // A change published now is newer than anything an agent confirmed; an existing one may not be.
  if (agents.count > 0 && 'seq' in change && agents.minConfirmed >= change.seq) {
    await tx.transition({ status: 'Completed', reason: `enforced: all ${agents.count} agent(s) of ${provider.name} already apply ${describe(tx)}` });
    return { kind: 'finish' };
  }
  await tx.awaitConfirmations('apply', change);
  await tx.transition({
    status: 'Running',
    reason: agents.count === 0
      ? `published to ${provider.name}'s change stream; waiting: no agent is registered for ${provider.name}`
      : `published to ${provider.name}'s change stream; waiting for ${agents.count} agent(s) to confirm`,
  });
  return { kind: 'finish' };
}

/** Withdrawing from a pull provider: the mirror image of `applyByLedger`. */
export async function withdrawByLedger(tx: JobTransaction, provider: ProviderDescriptor): Promise<JobDisposition> {
  const removed = await tx.ledgerRemove();
  const still = removed && removed.remaining > 0 ? `; ${describe(tx)} stays blocked by ${others(removed.remaining)}` : '';
  if (provider.completion === 'published' || !removed || removed.change === null || removed.remaining > 0) {
    const what = removed ? `withdrawn from ${provider.name}${still}` : `nothing was in force at ${provider.name}`;
    await tx.transition({ status: 'Completed', reason: what });
    return { kind: 'finish' };
  }
  // The removal was published just now, so no agent can have confirmed it yet.
  await tx.awaitConfirmations('withdraw', removed.change);
  await tx.transition({ status: 'Running', reason: `removal published to ${provider.name}'s change stream; waiting for agents to confirm` });
  return { kind: 'finish' };
}

/**
 * Push providers run in two transactions around the HTTP call: phase one records the dispatch and
 * the ledger change (idempotent), then the delivery runs outside any transaction, then phase two
 * records its outcome. A crash between the phases redelivers with the same idempotency key.
 */
export function pushPhaseOne(tx: JobTransaction, job: Job, provider: PushProvider): Promise<JobDisposition> {
  return job.kind === 'apply' ? pushApplyPhaseOne(tx, job, provider) : pushWithdrawPhaseOne(tx, job);
}

async function pushApplyPhaseOne(tx: JobTransaction, job: Job, provider: PushProvider): Promise<JobDisposition> {
  if (tx.action.status === 'NotStarted') await tx.transition({ status: 'Running', reason: `dispatched to ${provider.name}` });
  const added = await tx.ledgerAdd();
  const sequence = !added ? ((job.payload?.['sequence'] as number | undefined) ?? 0) : added.published ? ((await tx.publishNow()) ?? 0) : 'seq' in added.change ? added.change.seq : 0;
  return { kind: 'keep', payload: { sequence, event: 'block', deliver: true } };
}

async function pushWithdrawPhaseOne(tx: JobTransaction, job: Job): Promise<JobDisposition> {
  if (job.payload?.['event'] === 'unblock') return { kind: 'keep', payload: job.payload };
  const removed = await tx.ledgerRemove();
  // Unblock only when nothing else of this tenant still covers the indicator (overlap counting).
  const deliver = removed !== undefined && removed.remaining === 0;
  const sequence = removed?.change ? ((await tx.publishNow()) ?? 0) : 0;
  return { kind: 'keep', payload: { sequence, event: 'unblock', deliver, remaining: removed?.remaining ?? 0, applied: removed !== undefined } };
}

export type DeliveryResult = Awaited<ReturnType<PushProvider['deliver']>> | { kind: 'skipped' };

/** Phase two: record what the delivery did. */
export async function pushPhaseTwo(tx: JobTransaction, job: Job, provider: PushProvider, result: DeliveryResult, ctx: StepContext): Promise<JobDisposition> {
  const event = job.kind === 'apply' ? 'block' : 'unblock';
  const payload = job.payload ?? {};
  switch (result.kind) {
    case 'ok': {
      // Cancelled or expired while the block was on its way: the queued withdrawal ends the action.
      const superseded = job.kind === 'apply' && (tx.action.cancelledAt !== null || tx.action.expiredAt !== null);
      const reason = `${event} delivered to ${provider.name} (${result.detail})`;
      await tx.transition(superseded ? { status: 'Running', reason: `${reason}; withdrawal pending` } : { status: 'Completed', reason });
      return { kind: 'finish' };
    }
    case 'skipped': {
      const remaining = Number(payload['remaining'] ?? 0);
      const reason = payload['applied'] === false
        ? `nothing was in force at ${provider.name}`
        : `withdrawn; ${describe(tx)} stays blocked at ${provider.name} by ${others(remaining)}`;
      await tx.transition({ status: 'Completed', reason });
      return { kind: 'finish' };
    }
    case 'retry': {
      if (job.attempts >= ctx.settings.maxAttempts) return failPush(tx, job, provider, { code: 0, subcode: 0, message: `gave up after ${job.attempts} attempts: ${result.message}` });
      const delay = backoffDelay(job.attempts, ctx.settings.backoffBaseMs, ctx.settings.backoffMaxMs, ctx.random);
      return { kind: 'retry', runAt: tx.now + delay, error: result.message, payload };
    }
    case 'fail':
      return failPush(tx, job, provider, result.error);
    default:
      return result satisfies never;
  }
}

async function failPush(tx: JobTransaction, job: Job, provider: PushProvider, error: { code: number; subcode: number; message: string }): Promise<JobDisposition> {
  // A block that was never delivered must not keep counting as active.
  if (job.kind === 'apply') await tx.ledgerRemove();
  await tx.transition({ status: 'Failed', reason: `${provider.name}: ${error.message}`, errorInfo: error });
  return { kind: 'finish' };
}
