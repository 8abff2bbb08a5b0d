import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** Mode of a data directory the node creates: only its owner may list or enter it. */
export const DATA_DIR_MODE = 0o700;
/** Mode of every file the node keeps there: the SQLite files and the generated secrets. */
export const DATA_FILE_MODE = 0o600;

/**
 * Make sure `dir` exists for the node's files. A directory the node creates is 0700. One that
 * already exists is left as the operator made it (it may be a mount point, or shared with a
 * backup job on purpose), with a warning when others may read it; the files in it are 0600 either
 * way. Files named in `files` that exist with a looser mode (written by an older version, or
 * copied in) are tightened to 0600.
 */
export function prepareDataDir(dir: string, files: readonly string[], logger: Logger): void {
  const created = mkdirSync(dir, { recursive: true, mode: DATA_DIR_MODE });
  if (created === undefined) {
    const mode = statSync(dir).mode & 0o777;
    if (mode & 0o077)
      logger.warn(
        { dataDir: dir, mode: mode.toString(8) },
        'the data directory is readable by other users; chmod 700 it (its files are 0600)',
      );
  }
  for (const file of files) restrictFile(join(dir, file), logger);
}

/** Create `file` empty with mode 0600 unless it exists, so whatever is written to it is private from the start. */
export function createPrivateFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', DATA_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Tighten an existing file to 0600 (a missing file is fine: it will be created 0600). */
function restrictFile(path: string, logger: Logger): void {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return;
  }
  if ((mode & ~DATA_FILE_MODE) === 0) return;
  try {
    chmodSync(path, DATA_FILE_MODE);
    logger.warn({ file: path, was: mode.toString(8) }, 'tightened a data file to mode 600');
  } catch (err) {
    logger.warn(
      { file: path, mode: mode.toString(8), err },
      'a data file is readable by other users and could not be made 600',
    );
  }
}
