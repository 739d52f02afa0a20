export { WorkerClient, WorkerError, type CallOptions, type WaitNote, type WorkerClientOptions } from './client.ts'
export * from './types.ts'
export { ServedModel } from './served-model.ts'
export { waitNotices } from './wait-notices.ts'
