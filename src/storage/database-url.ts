// Which database a DATABASE_URL names, without loading a database driver (the configuration checks it too).

/** postgres:// and postgresql:// URLs name a PostgreSQL database; anything else is taken for a SQLite file. */
export function isPostgresUrl(databaseUrl: string): boolean {
  return /^postgres(ql)?:\/\//.test(databaseUrl);
}
