export * from './schema.ts'
export { loadBuiltin, parseJsonl, dataDir, type BuiltinDataset, type JsonlLine } from './load.ts'
export { validateNewsSet, validateControlSet, checkAnswer, positionStats, errorsOf, type Issue, type Report, type ValidateOptions } from './validate.ts'
export { computeStats, formatStats, type DatasetStats } from './stats.ts'
