export declare const DEFAULT_PROBE: string
export declare function parseProbe(probe: string): { host: string; port: number }
export declare function answers(host: string, port: number, timeoutMs?: number): Promise<boolean>
