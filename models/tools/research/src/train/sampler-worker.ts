/** One sampler thread (see sampler.ts): writes shards and reports each to the parent. */
import { parentPort, workerData } from 'worker_threads';
import { runSampler, SamplerOptions } from './sampler';

runSampler(workerData as SamplerOptions, (shard, samples) => parentPort?.postMessage({ shard, samples }));
