import { createRequire } from 'node:module';
import type { Database as Db } from 'better-sqlite3';

const require = createRequire(import.meta.url);

/**
 * Open a SQLite file in WAL mode. better-sqlite3 is loaded here, lazily, so a node that runs on
 * another backend never loads the native driver.
 */
export function openDatabase(file: string, synchronous: 'NORMAL' | 'FULL'): Db {
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // In WAL mode NORMAL loses nothing when the process dies (the WAL is in the OS cache);
  // only an OS crash or power loss can drop the last transactions. FULL closes that gap too.
  db.pragma(`synchronous = ${synchronous}`);
  db.pragma('busy_timeout = 5000');
  return db;
}
