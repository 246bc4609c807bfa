import { StackError } from './diagnostics.js';
import { loadStackText } from './load.js';

/** What loading `yaml` (as /stack.yml) reports, formatted as the CLI prints it; empty when it loads. For tests. */
export function loadErrors(yaml: string): string {
  try {
    loadStackText(yaml, { file: '/stack.yml' });
  } catch (err) {
    if (err instanceof StackError) return err.format();
    throw err;
  }
  return '';
}
