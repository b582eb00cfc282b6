// Converts daemon diagnostics (1-based line/column) to editor positions (0-based), grouped by file.
import * as path from 'node:path';
import type { Diagnostic, ProjectKind } from './protocol';

export type EditorSeverity = 'error' | 'warning' | 'information';

export interface EditorDiagnostic {
  file: string;
  line: number;
  column: number;
  severity: EditorSeverity;
  message: string;
}

/** The directory relative diagnostic paths are resolved against. */
export function projectDirectory(root: string, kind: ProjectKind | undefined): string {
  return kind === 'rust-file' || kind === 'cpp-file' ? path.dirname(root) : root;
}

export function toEditorSeverity(severity: string): EditorSeverity {
  if (severity === 'error') return 'error';
  if (severity === 'warning') return 'warning';
  return 'information';
}

export function toEditorDiagnostic(diagnostic: Diagnostic, baseDirectory: string): EditorDiagnostic {
  const file = diagnostic.file ? path.resolve(baseDirectory, diagnostic.file) : baseDirectory;
  return {
    file,
    line: Math.max(0, (Number(diagnostic.line) || 1) - 1),
    column: Math.max(0, (Number(diagnostic.column) || 1) - 1),
    severity: toEditorSeverity(diagnostic.severity),
    message: diagnostic.message,
  };
}

/** Groups by absolute file; order within a file is the daemon's. */
export function groupByFile(diagnostics: readonly Diagnostic[], baseDirectory: string): Map<string, EditorDiagnostic[]> {
  const byFile = new Map<string, EditorDiagnostic[]>();
  for (const diagnostic of diagnostics) {
    const converted = toEditorDiagnostic(diagnostic, baseDirectory);
    const list = byFile.get(converted.file) ?? [];
    list.push(converted);
    byFile.set(converted.file, list);
  }
  return byFile;
}
