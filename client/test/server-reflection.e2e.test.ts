// gRPC server reflection, as grpcurl and other tools use it.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentials, loadPackageDefinition, type Client, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { startTestFarm, type TestFarm } from './farm.js';

const require = createRequire(import.meta.url);
const protoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

type ReflectionClient = Client & { ServerReflectionInfo(): ClientDuplexStream<object, Record<string, unknown>> };

describe('server reflection', () => {
  let farm: TestFarm;
  let reflection: ReflectionClient;
  beforeAll(async () => {
    farm = await startTestFarm(0);
    const def = loadPackageDefinition(loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [protoDir] })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: new (addr: string, c: ReturnType<typeof credentials.createInsecure>) => ReflectionClient } } };
    };
    reflection = new def.grpc.reflection.v1.ServerReflection(farm.coordinator.address, credentials.createInsecure());
  });
  afterAll(async () => {
    reflection?.close();
    await farm?.stop();
  });

  const ask = (request: object): Promise<Record<string, unknown>> => new Promise((resolve, reject) => {
    const call = reflection.ServerReflectionInfo();
    call.on('data', (d: Record<string, unknown>) => { resolve(d); call.end(); });
    call.on('error', (e: ServiceError) => reject(e));
    call.write(request);
  });

  it('lists the services', async () => {
    const res = await ask({ listServices: '' }) as { listServicesResponse: { service: { name: string }[] } };
    const names = res.listServicesResponse.service.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['latentfarm.v1.RenderFarm', 'latentfarm.v1.WorkerGateway']));
  });

  it('describes a method by symbol', async () => {
    const res = await ask({ fileContainingSymbol: 'latentfarm.v1.RenderFarm' }) as { fileDescriptorResponse: { fileDescriptorProto: Buffer[] } };
    const files = res.fileDescriptorResponse.fileDescriptorProto.map((b) => b.toString('latin1')).join('');
    expect(files).toContain('SubmitJobStream');
    expect(files).toContain('WatchJobRequest');
  });
});
