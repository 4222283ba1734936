// `npm run loadtest -- [options]`
import { main } from './loadtest.js';

process.exitCode = await main(process.argv.slice(2));
