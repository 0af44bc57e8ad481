// Mocha's spec reporter, plus the one closing line CI reads: "N passed, N failed".
'use strict';
const Mocha = require('mocha');

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const { passes, failures } = runner.stats;
      // After the spec reporter's own epilogue, so it is the last line of the run.
      process.nextTick(() => console.log(`${passes} passed, ${failures} failed`));
    });
  }
}

module.exports = SummaryReporter;
