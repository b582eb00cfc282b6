// Writes src/core/errorCodes.ts from ../schemas/error-codes.json (the one table of JSON-RPC error
// codes). Run by `npm run compile` before tsc; the output is gitignored.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tablePath = path.resolve(here, '..', '..', 'schemas', 'error-codes.json');
const outPath = path.resolve(here, '..', 'src', 'core', 'errorCodes.ts');

const table = JSON.parse(fs.readFileSync(tablePath, 'utf8'));
const camel = (name) => name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
const lines = [
  '// GENERATED from schemas/error-codes.json by scripts/gen-error-codes.mjs (npm run compile): do not edit.',
  '',
  '/** JSON-RPC error codes of prestaged, by camelCase name of the table\'s snake_case names. */',
  'export const ErrorCodes = {',
];
for (const { name, code, description } of table) {
  if (!/^[a-z][a-z0-9_]*$/.test(name) || !Number.isInteger(code)) {
    throw new Error(`${tablePath}: entry ${JSON.stringify(name)} needs a snake_case name and an integer code`);
  }
  lines.push(`  /** ${description.replace(/\*\//g, '* /')} */`, `  ${camel(name)}: ${code},`);
}
lines.push('} as const;', '', 'export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];', '');
const text = lines.join('\n');
if (!fs.existsSync(outPath) || fs.readFileSync(outPath, 'utf8') !== text) fs.writeFileSync(outPath, text);
