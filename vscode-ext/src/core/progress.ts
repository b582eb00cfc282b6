// build/progress params -> what vscode.Progress.report takes: the message with the build's fraction
// ("[12/40] ..."), and `increment` as the growth of done/total in percent since the last report.
import type { BuildProgressParams } from './protocol';

export interface ProgressReport { message: string; increment?: number }

/** The fraction of a build/progress, or null when it has none (or an inconsistent one). */
export function fractionOf(params: BuildProgressParams): { done: number; total: number } | null {
  const { done, total } = params;
  if (!Number.isInteger(done) || !Number.isInteger(total)) return null;
  if ((total as number) <= 0 || (done as number) < 0 || (done as number) > (total as number)) return null;
  return { done: done as number, total: total as number };
}

/** One window progress's reports for one build: increments add up to at most 100, never negative. */
export class ProgressReporter {
  private percent = 0;

  next(params: BuildProgressParams): ProgressReport {
    const fraction = fractionOf(params);
    if (!fraction) return { message: params.message };
    // ninja's lines carry "[n/total]" already; cargo's do not.
    const message = params.message.startsWith('[') ? params.message : `[${fraction.done}/${fraction.total}] ${params.message}`;
    const percent = (100 * fraction.done) / fraction.total;
    if (percent <= this.percent) return { message };
    const increment = percent - this.percent;
    this.percent = percent;
    return { message, increment };
  }
}
