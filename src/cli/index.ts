#!/usr/bin/env node
import module from 'node:module';
import '../dirname-shim.js';
import { main } from './main.js';

// Node 22.1+ keeps V8's compiled code of the bundle's chunks between runs (in the system's temp
// directory, or NODE_COMPILE_CACHE), so a command loads them without compiling them again. Node 20
// has no such cache for ES modules; there this does nothing.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

process.exitCode = await main(process.argv.slice(2));
