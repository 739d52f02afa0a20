export { ExperimentsApi, type Experiment, type ExperimentResults, type ResultRow, type Cell } from './api.ts'
export { follow, activity } from './follow.ts'
export { formatResults } from './table.ts'
