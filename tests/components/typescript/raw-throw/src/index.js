// Test fixture: the `pipeline` export written against the WIT bindings directly, in JavaScript,
// with a step that throws an Error the bindings cannot turn into a `step-error`.
import { write } from 'transflow:template/log@0.1.1';

export const pipeline = {
  describe() {
    return {
      id: 'raw-throw',
      description: 'Throws from its only step',
      steps: [{ name: 'only', description: 'throws', uses: [':original'] }],
      fields: [],
    };
  },
  runStep(step) {
    write('info', `running ${step}`);
    throw new TypeError(`raw failure in ${step}`);
  },
};
