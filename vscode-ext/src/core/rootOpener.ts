// Opens each project root at most once per session and remembers what the daemon refused.
import { ResponseError } from 'vscode-jsonrpc';
import { ErrorCodes } from './protocol';

/** opened; refused by the daemon (not retried); failed for another reason (retried next time). */
export type OpenOutcome = 'opened' | 'refused' | 'failed';

/** project/open answers invalid params for a root it cannot build; anything else may pass. */
export function outcomeOfOpenError(error: unknown): OpenOutcome {
  return error instanceof ResponseError && error.code === ErrorCodes.invalidParams ? 'refused' : 'failed';
}

export class RootOpener {
  private readonly settled = new Map<string, 'opened' | 'refused'>();
  private readonly pending = new Map<string, Promise<OpenOutcome>>();

  constructor(private readonly openRoot: (root: string) => Promise<OpenOutcome>) {}

  /** Opens root unless it was opened or refused before; concurrent calls share one request. */
  open(root: string): Promise<OpenOutcome> {
    const known = this.settled.get(root);
    if (known) return Promise.resolve(known);
    let request = this.pending.get(root);
    if (!request) {
      request = this.openRoot(root)
        .catch((): OpenOutcome => 'failed')
        .then((outcome) => {
          if (outcome !== 'failed') this.settled.set(root, outcome);
          return outcome;
        })
        .finally(() => this.pending.delete(root));
      this.pending.set(root, request);
    }
    return request;
  }

  /**
   * Tries candidates in order (nearest root first), past the refused ones, until one is open; that
   * one, or undefined. Stops at a failure: an outer root must not stand in for one not yet asked.
   */
  async openFirst(candidates: readonly string[]): Promise<string | undefined> {
    for (const root of candidates) {
      const outcome = await this.open(root);
      if (outcome === 'opened') return root;
      if (outcome === 'failed') return undefined;
    }
    return undefined;
  }

  outcome(root: string): 'opened' | 'refused' | undefined {
    return this.settled.get(root);
  }

  /** Forgets everything: after the settings (daemon, python) changed. */
  clear(): void {
    this.settled.clear();
  }
}
