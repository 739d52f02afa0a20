#!/usr/bin/env node
// The sys2ft command line. Runs the TypeScript sources through tsx (a dependency of the workspace).
import { register } from 'tsx/esm/api'
register()
await import('../src/main.ts')
