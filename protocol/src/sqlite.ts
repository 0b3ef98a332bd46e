/**
 * The SQLite binding for this Node.js (issue 14, Node 22 and 24). better-sqlite3 12 is built for
 * each Node at install time and runs on 20, 22 and 24 up to 24.18; from Node 24.19 it aborts the
 * process when the garbage collector frees a statement. better-sqlite3 13 (Node-API, prebuilt
 * inside its npm package) fixes that but needs Node 22. So both are installed where they can be
 * (13 as the optional `better-sqlite3-napi`, which npm skips on Node 20 because of `.npmrc`'s
 * engine-strict) and this picks 13 on Node 22 and later. Same API; one choice for server and agent.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

export type SqliteDatabase = BetterSqlite3.Database;
export type SqliteConstructor = typeof BetterSqlite3;

const nodeMajor = Number(process.versions.node.split('.')[0]);
let driver: { name: string; open: SqliteConstructor; path: string } | null = null;

/** The better-sqlite3 constructor for this Node, which package it came from, and that package's entry file (for a worker thread's `require`). */
export function sqliteDriver(): { name: string; open: SqliteConstructor; path: string } {
  if (driver) return driver;
  const require = createRequire(import.meta.url);
  if (nodeMajor >= 22) {
    try {
      driver = { name: 'better-sqlite3-napi', open: require('better-sqlite3-napi') as SqliteConstructor, path: require.resolve('better-sqlite3-napi') };
      return driver;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      // Not installed (an install made on Node 20, then run on 22): the compiled one still works below 24.19.
    }
  }
  driver = { name: 'better-sqlite3', open: require('better-sqlite3') as SqliteConstructor, path: require.resolve('better-sqlite3') };
  return driver;
}

/** Opens (or creates) a SQLite file with the binding for this Node. */
export function openSqlite(file: string): SqliteDatabase {
  return new (sqliteDriver().open)(file);
}
