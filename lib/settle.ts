/**
 * Waiting for several remote operations together: unlike Promise.all, a
 * failure is reported only once every operation has ended, so nothing is
 * left running unobserved behind the error.
 */

/** The values of all promises; after all have settled, the first rejection if any. */
export async function settleAll<T> (promises: ReadonlyArray<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  return results.map((r) => (r as PromiseFulfilledResult<T>).value)
}
