#!/usr/bin/env node
// Entry point of the `atomic` CLI. Global options that atomic accepted before the
// subcommand (`atomic --debug images list`, `atomic -y images delete X`) are moved
// after it, so existing scripts keep working with oclif's parser.
import { main } from '../dist/src/cli/main.js';
await main(process.argv.slice(2), import.meta.url);
