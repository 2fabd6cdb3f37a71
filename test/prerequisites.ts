/**
 * For a test file that needs programs this machine may lack (Chromium, Orthanc, nginx,
 * dciodvfy): `missing` says which and why, or is undefined. Under CI=true a missing one fails the
 * run. Otherwise the file's tests are skipped, the reason is printed once, and its beforeAll does
 * not run, so nothing is set up for tests that will not run.
 */
export function prerequisites(missing: string | undefined, what: string, tests: string): { it: typeof test; beforeAll: typeof beforeAll } {
  if (missing && process.env.CI === 'true') throw new Error(`CI needs ${what}: ${missing}`);
  if (missing) console.warn(`SKIP ${tests}: ${missing}`);
  return { it: missing ? test.skip : test, beforeAll: missing ? () => undefined : beforeAll };
}
