export { WorkerClient, WorkerError, type WorkerClientOptions } from './client.ts'
export * from './types.ts'
export { ServedModel } from './served-model.ts'
