/**
 * The SMS pipeline's TypeScript client for the usage endpoints (SPEC 2, SPEC 5). It speaks
 * HTTP to the API with the pipeline key, so the pipeline needs no database or Temporal
 * access of its own. Money stays a decimal string end to end.
 *
 *   const usage = createPipelineClient({ baseUrl: 'http://127.0.0.1:3000', apiKey });
 *   const result = await usage.recordUsage('mer_...', { id: 'sms-1', amount: '0.0075',
 *     kind: 'order_confirmation' });
 *   if (result.status === 'insufficient_funds') dontSend();
 */
import type { UsageKind } from '../ledger/types';

export interface PipelineClientOptions {
  readonly baseUrl: string;
  /** The pipeline key (PIPELINE_API_KEY). */
  readonly apiKey: string;
  /** Per request; 10 s by default. */
  readonly timeoutMs?: number;
}

export interface UsageInput {
  /** The pipeline's own id for the message: the same id is debited once. */
  readonly id: string;
  /** Decimal string in major units, such as "0.0075". */
  readonly amount: string;
  readonly kind: UsageKind;
}

export type BatchUsageInput = UsageInput & { readonly merchantId: string };

/**
 * `debited` and `duplicate` mean: send. `insufficient_funds` means: do not send; a batch
 * result carries the balance that refused it, a single answer does not.
 */
export type UsageOutcome =
  | {
      readonly status: 'debited' | 'duplicate';
      readonly balance: string;
      readonly ledgerSeq: number;
    }
  | {
      readonly status: 'insufficient_funds';
      readonly balance?: string;
      readonly ledgerSeq?: number;
    }
  | { readonly status: 'merchant_not_found' };

export interface BalanceAnswer {
  readonly balance: string;
  readonly currency: string;
  readonly ledgerSeq: number;
}

/** Any answer the client cannot turn into an outcome: bad input, bad key, 5xx. */
export class PipelineRequestError extends Error {
  override readonly name = 'PipelineRequestError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

export interface PipelineClient {
  recordUsage(merchantId: string, usage: UsageInput): Promise<UsageOutcome>;
  /** Up to 1000 events; one outcome per event, in order. */
  recordUsageBatch(events: readonly BatchUsageInput[]): Promise<UsageOutcome[]>;
  getBalance(merchantId: string): Promise<BalanceAnswer>;
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

function errorOf({ status, body }: Answer): PipelineRequestError {
  const error = body.error as { code?: string; message?: string } | undefined;
  return new PipelineRequestError(status, error?.code ?? 'unknown', error?.message ?? '');
}

export function createPipelineClient(options: PipelineClientOptions): PipelineClient {
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function send(method: string, path: string, body?: unknown): Promise<Answer> {
    // Joined as text, so a base URL with a path prefix (behind a proxy) keeps it.
    const response = await fetch(`${options.baseUrl.replace(/\/+$/, '')}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${options.apiKey}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    try {
      return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
    } catch {
      // A proxy's HTML error page, say: report the status, not a JSON syntax error.
      throw new PipelineRequestError(response.status, 'unexpected_answer', text.slice(0, 200));
    }
  }

  async function getBalance(merchantId: string): Promise<BalanceAnswer> {
    const answer = await send('GET', `/v1/merchants/${merchantId}/balance`);
    if (answer.status !== 200) throw errorOf(answer);
    return answer.body as unknown as BalanceAnswer;
  }

  return {
    async recordUsage(merchantId, usage) {
      const answer = await send('POST', `/v1/merchants/${merchantId}/usage`, usage);
      const { balance, ledgerSeq } = answer.body as { balance: string; ledgerSeq: number };
      if (answer.status === 201) return { status: 'debited', balance, ledgerSeq };
      if (answer.status === 200) return { status: 'duplicate', balance, ledgerSeq };
      const code = (answer.body.error as { code?: string } | undefined)?.code;
      if (code === 'merchant_not_found') return { status: 'merchant_not_found' };
      if (code === 'insufficient_funds') return { status: 'insufficient_funds' };
      throw errorOf(answer);
    },

    async recordUsageBatch(events) {
      const answer = await send('POST', '/v1/usage/batch', { events });
      if (answer.status !== 200) throw errorOf(answer);
      return answer.body.results as UsageOutcome[];
    },

    getBalance,
  };
}
