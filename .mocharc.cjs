'use strict';
// `npm test` runs every package's compiled tests; `npx mocha <files>` runs only the files named
// (mocha would otherwise add the default spec to the ones given on the command line).
const named = process.argv.slice(2).some((a) => /\.(c|m)?js$|\*/.test(a) && !a.startsWith('-'));
module.exports = {
  ...(named ? {} : { spec: ['packages/*/dist/test/**/*.test.js', 'examples/dist/test/**/*.test.js'] }),
  reporter: './tools/mocha-summary-reporter.cjs',
  // Property tests: one fixed seed under CI, new seeds elsewhere (see the file).
  require: ['./tools/fast-check-seed.mjs'],
  'node-option': ['enable-source-maps'],
  timeout: 20000,
  'forbid-only': Boolean(process.env.CI),
};
