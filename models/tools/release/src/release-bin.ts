/** The release package's abus-ai: the whole CLI in one file, beside the plugin folder (see layout.ts). */
import { main } from '@abus-tumor-ai/cli';

main(process.argv).then(
  (status) => {
    process.exitCode = status;
  },
  (err) => {
    console.error(`abus-ai: error: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
