import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Every module `@inloop/server/ports` loads: its own files, and the packages they import. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    // Type-only imports load nothing at run time.
    for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'([^']+)'/gms)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe('@inloop/server/ports', () => {
  it('loads no app code: no Fastify, no SQLite driver, no config, only node built-ins and the protocol', () => {
    const { files, packages } = importGraph(resolve(src, 'ports/index.ts'));
    assert.deepEqual(
      [...packages].filter((p) => !p.startsWith('node:') && p !== '@inloop/protocol'),
      [],
      'packages loaded by the ports entry',
    );
    for (const file of files) {
      assert.ok(
        /\/(ports|util)\/|\/errors\.ts$|\/adapters\/(epoch|unborn-epochs|store-queue)\.ts$/.test(file),
        `${file} is loaded by the ports entry`,
      );
    }
  });
});
