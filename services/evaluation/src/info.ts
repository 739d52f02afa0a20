/** The service's name and version, recorded in every run's provenance. */
export const serviceInfo = { name: 'evaluation', version: '0.1.0' } as const
