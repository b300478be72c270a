import type pg from "pg";

/**
 * Runs `fn` in one transaction on `client`: begin (with `begin`'s text, e.g. an isolation
 * level), fn, commit; on a throw, rollback and rethrow fn's error. A failed rollback is
 * swallowed: after a broken connection there is nothing to roll back, and the error that
 * matters is fn's. For a transaction whose body is one function; not for one kept open
 * across calls (a chunk's claim, the stream's apply window).
 */
export async function withTransaction<T>(
  client: pg.ClientBase,
  fn: () => Promise<T>,
  begin = "begin",
): Promise<T> {
  await client.query(begin);
  try {
    const result = await fn();
    await client.query("commit");
    return result;
  } catch (err) {
    await client.query("rollback").catch(() => {});
    throw err;
  }
}
