// Loaded by mocha before the tests (.mocharc.cjs `require`). Under CI every property test runs
// from one fixed seed, so the gate checks exactly the cases that were run before submitting and
// cannot fail on a case nobody has seen; everywhere else each run draws new seeds (exploration),
// and `npm run fuzz` runs millions of cases. VMKIT_FC_SEED=<int> pins the seed anywhere (to
// replay a failure fast-check reported, give its seed and, in the test, its path).
import process from 'node:process';
import fc from 'fast-check';

const CI_SEED = 20261122;
const given = process.env.VMKIT_FC_SEED;
let seed;
if (given !== undefined && given !== '') {
  seed = Number(given);
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`VMKIT_FC_SEED must be an integer (fast-check's seed), got '${given}'`);
  }
} else if (process.env.CI) {
  seed = CI_SEED;
}
if (seed !== undefined) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed });
