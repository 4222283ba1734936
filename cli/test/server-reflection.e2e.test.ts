// gRPC server reflection, used the way grpcurl, Postman or a Python tool use it: this client knows
// the reflection protocol and nothing else about latentfarm (none of our generated code). It learns
// the services and files from the server, builds message types from the reflected
// FileDescriptorProtos with protobufjs, and renders a job with SubmitJob and WatchJob on a live
// coordinator with a sim worker.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { startTestFarm, type TestFarm } from './farm.js';

const require = createRequire(import.meta.url);
// The reflection protocol's own .proto, as every reflection client ships it.
const reflectionProtoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

type Version = 'v1' | 'v1alpha';

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

// What this test reads of a decoded FileDescriptorProto (protobufjs' descriptor.proto, enums as names).
interface FieldProto {
  name: string; number: number; label: string; type: string; typeName?: string;
  jsonName?: string; oneofIndex?: number; proto3Optional?: boolean;
}
interface MessageProto { name: string; field?: FieldProto[]; nestedType?: MessageProto[]; oneofDecl?: { name: string }[]; options?: { mapEntry?: boolean } }
interface MethodProto { name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }
interface FileProto {
  name: string; package: string; syntax?: string; dependency?: string[];
  messageType?: MessageProto[]; service?: { name: string; method: MethodProto[] }[];
}

const decodeFile = (bytes: Uint8Array): FileProto =>
  descriptor.FileDescriptorProto.toObject(descriptor.FileDescriptorProto.decode(bytes), { enums: String }) as unknown as FileProto;

// ext/descriptor adds Root.fromDescriptor at run time but not to protobufjs' typings.
const rootFromDescriptors = (files: Uint8Array[]): protobuf.Root =>
  (protobuf.Root as unknown as { fromDescriptor(set: protobuf.Message): protobuf.Root })
    .fromDescriptor(descriptor.FileDescriptorSet.create({ file: files.map((f) => descriptor.FileDescriptorProto.decode(f)) }));

/** protoc's json_name: lowerCamelCase of the field name. */
const jsonNameOf = (name: string): string => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** protoc's name for a map field's entry message: `labels` → `LabelsEntry`. */
const mapEntryNameOf = (field: string): string => `${jsonNameOf(field).charAt(0).toUpperCase()}${jsonNameOf(field).slice(1)}Entry`;

function* messagesOf(messages: MessageProto[] = [], scope = ''): Generator<[string, MessageProto]> {
  for (const m of messages) {
    yield [`${scope}.${m.name}`, m];
    yield* messagesOf(m.nestedType, `${scope}.${m.name}`);
  }
}

describe('server reflection, as a generic tool uses it', () => {
  let farm: TestFarm;
  let client: Client;
  const protocol: Record<Version, { request: protobuf.Type; response: protobuf.Type }> = {} as Record<Version, { request: protobuf.Type; response: protobuf.Type }>;

  beforeAll(async () => {
    farm = await startTestFarm(1);
    client = new Client(farm.coordinator.address, credentials.createInsecure());
    for (const version of ['v1', 'v1alpha'] as const) {
      const root = new protobuf.Root().loadSync(join(reflectionProtoDir, `grpc/reflection/${version}/reflection.proto`));
      protocol[version] = {
        request: root.lookupType(`grpc.reflection.${version}.ServerReflectionRequest`),
        response: root.lookupType(`grpc.reflection.${version}.ServerReflectionResponse`),
      };
    }
  });
  afterAll(async () => {
    client?.close();
    await farm?.stop();
  });

  /** One request on a ServerReflectionInfo stream (protobufjs camelCases the protocol's field names). */
  const reflect = (request: Record<string, string>, version: Version = 'v1'): Promise<ReflectionResponse> => new Promise((resolve, reject) => {
    const { request: Req, response: Res } = protocol[version];
    const call = client.makeBidiStreamRequest(
      `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
      (o: Record<string, string>) => Buffer.from(Req.encode(Req.fromObject(o)).finish()),
      (b: Buffer) => Res.toObject(Res.decode(b)) as ReflectionResponse,
    );
    call.on('data', (d: ReflectionResponse) => { resolve(d); call.end(); });
    call.on('error', reject);
    call.write(request);
  });

  const filesFor = async (request: Record<string, string>): Promise<Uint8Array[]> => {
    const res = await reflect(request);
    if (!res.fileDescriptorResponse) throw new Error(`no files for ${JSON.stringify(request)}: ${res.errorResponse?.errorMessage ?? 'no answer'}`);
    return res.fileDescriptorResponse.fileDescriptorProto;
  };

  /** Every file the server describes, learned from its services and their imports, by name. */
  const allFiles = async (): Promise<Map<string, Uint8Array>> => {
    const listed = (await reflect({ listServices: '*' })).listServicesResponse?.service.map((s) => s.name) ?? [];
    const files = new Map<string, Uint8Array>();
    for (const service of listed.filter((s) => !s.startsWith('grpc.'))) {
      for (const bytes of await filesFor({ fileContainingSymbol: service })) files.set(decodeFile(bytes).name, bytes);
    }
    return files;
  };

  it('lists the services, in both protocol versions', async () => {
    const v1 = (await reflect({ listServices: '*' }, 'v1')).listServicesResponse?.service.map((s) => s.name).sort();
    const v1alpha = (await reflect({ listServices: '*' }, 'v1alpha')).listServicesResponse?.service.map((s) => s.name).sort();
    expect(v1).toEqual(expect.arrayContaining(['latentfarm.v1.RenderFarm', 'latentfarm.v1.WorkerGateway', 'latentfarm.v1.FarmAdmin']));
    expect(v1alpha).toEqual(v1);
  });

  it('serves each .proto file by its own name and by symbol, with its imports', async () => {
    const files = await allFiles();
    expect([...files.keys()].sort()).toEqual(['latentfarm/v1/credits.proto', 'latentfarm/v1/farm_admin.proto', 'latentfarm/v1/render_farm.proto', 'latentfarm/v1/types.proto', 'latentfarm/v1/worker_gateway.proto']);
    for (const [name, bytes] of files) {
      const served = await filesFor({ fileByFilename: name });
      const [first, ...imports] = served.map(decodeFile);
      expect(first?.name).toBe(name);
      expect(Buffer.from(served[0] ?? [])).toEqual(Buffer.from(bytes));
      // Every import comes along, so a client can resolve every type from one answer.
      expect(imports.map((f) => f.name).sort()).toEqual([...(first?.dependency ?? [])].sort());
    }
    const symbols: [string, string][] = [
      ['latentfarm.v1.JobSpec', 'latentfarm/v1/types.proto'],
      ['latentfarm.v1.JobState', 'latentfarm/v1/types.proto'],
      ['latentfarm.v1.RenderFarm.SubmitJob', 'latentfarm/v1/render_farm.proto'],
      ['latentfarm.v1.WatchJobResponse', 'latentfarm/v1/render_farm.proto'],
      ['latentfarm.v1.WorkerGateway', 'latentfarm/v1/worker_gateway.proto'],
    ];
    for (const [symbol, file] of symbols) {
      expect(decodeFile((await filesFor({ fileContainingSymbol: symbol }))[0] ?? new Uint8Array()).name, symbol).toBe(file);
    }
    for (const request of [{ fileByFilename: 'latentfarm/v1/missing.proto' }, { fileContainingSymbol: 'latentfarm.v1.Missing' }]) {
      expect((await reflect(request)).errorResponse?.errorCode).toBe(status.NOT_FOUND);
    }
  });

  it('describes fields as protoc does: snake_case names with json_name, XxxEntry map entries, proto3 optional', async () => {
    const files = [...(await allFiles()).values()].map(decodeFile);
    const messages = new Map(files.flatMap((f) => [...messagesOf(f.messageType, `.${f.package}`)]));
    let maps = 0;
    let optionals = 0;
    for (const [fullName, message] of messages) {
      for (const field of message.field ?? []) {
        expect(field.name, `${fullName}.${field.name}`).toMatch(/^[a-z][a-z0-9_]*$/);
        expect(field.jsonName, `${fullName}.${field.name}`).toBe(jsonNameOf(field.name));
        const entry = field.typeName ? messages.get(field.typeName) : undefined;
        if (entry?.options?.mapEntry) {
          maps++;
          expect(field.typeName).toBe(`${fullName}.${mapEntryNameOf(field.name)}`);
          expect(field.label).toBe('LABEL_REPEATED');
          expect(entry.field?.map((f) => [f.name, f.number])).toEqual([['key', 1], ['value', 2]]);
        }
        if (field.proto3Optional) {
          optionals++;
          // A synthetic oneof of its own, named as protoc names it.
          expect(message.oneofDecl?.[field.oneofIndex ?? -1]?.name).toBe(`_${field.name}`);
        }
      }
    }
    expect(maps).toBeGreaterThanOrEqual(2); // JobSpec.labels, ListJobsRequest.labels
    const params = messages.get('.latentfarm.v1.GenerationParams');
    expect(params?.field?.filter((f) => f.proto3Optional).map((f) => f.name)).toEqual(expect.arrayContaining(['width', 'height', 'steps', 'cfg_scale', 'seed']));
    expect(optionals).toBeGreaterThanOrEqual(5);
    expect(files.every((f) => f.syntax === 'proto3')).toBe(true);
  });

  it('renders a job with SubmitJob and WatchJob built from the reflected descriptors alone', async () => {
    const served = await filesFor({ fileContainingSymbol: 'latentfarm.v1.RenderFarm' });
    const root = rootFromDescriptors(served);
    const service = root.lookupService('latentfarm.v1.RenderFarm');
    const method = (name: string): { path: string; request: protobuf.Type; response: protobuf.Type } => {
      const m = service.methods[name];
      if (!m) throw new Error(`the server does not describe RenderFarm.${name}`);
      m.resolve();
      if (!m.resolvedRequestType || !m.resolvedResponseType) throw new Error(`RenderFarm.${name}: types not resolved`);
      return { path: `/latentfarm.v1.RenderFarm/${m.name}`, request: m.resolvedRequestType, response: m.resolvedResponseType };
    };
    const codec = (t: protobuf.Type) => ({
      serialize: (o: Record<string, unknown>) => {
        const message = t.fromObject(o);
        // fromObject drops names the type does not have; a field misnamed here must not pass unseen.
        const kept = t.toObject(message, { enums: String, longs: Number });
        if (!isDeepStrictEqual(kept, o)) throw new Error(`${t.name}: not every field is known: sent ${JSON.stringify(o)}, kept ${JSON.stringify(kept)}`);
        return Buffer.from(t.encode(message).finish());
      },
      deserialize: (b: Buffer) => t.toObject(t.decode(b), { enums: String, longs: Number }),
    });
    const unary = (name: string, request: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const m = method(name);
      const req = codec(m.request);
      const res = codec(m.response);
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(m.path, req.serialize, res.deserialize, request, (err: ServiceError | null, value?: Record<string, unknown>) =>
          (err || !value ? reject(err ?? new Error('empty answer')) : resolve(value)));
      });
    };

    // Field names as the reflected descriptors spell them (snake_case, as in the .proto).
    const submitted = await unary('SubmitJob', {
      spec: {
        model: 'sim',
        params: { width: 64, height: 64, steps: 3, seed: 0, output_format: 'IMAGE_FORMAT_PNG' },
        // protobufjs builds a map from its descriptor as what it is on the wire: repeated entries.
        labels: [{ key: 'origin', value: 'reflection' }],
        idempotency_key: `reflection-${process.pid}`,
      },
      entries: [{ prompt: 'a red circle', negative_prompt: 'blur', images: 2 }],
    });
    const jobId = (submitted['job'] as { id?: string } | undefined)?.id;
    expect(jobId).toMatch(/.+/);

    const watch = method('WatchJob');
    const events: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.makeServerStreamRequest(watch.path, codec(watch.request).serialize, codec(watch.response).deserialize,
        { job_id: jobId, references_only: true, no_progress: true });
      call.on('data', (e: Record<string, unknown>) => events.push(e));
      call.on('error', reject);
      call.on('end', () => resolve()); // the server ends the stream when the job has ended
    });
    const states = events.flatMap((e) => (e['state'] ? [(e['state'] as { state: string }).state] : []));
    const images = events.flatMap((e) => (e['image'] ? [(e['image'] as { info: { id: string; finish_reason: string; params: { seed?: number } } }).info] : []));
    expect(states.at(-1)).toBe('JOB_STATE_SUCCEEDED');
    expect(images.map((i) => [i.id, i.finish_reason]).sort()).toEqual([[`${jobId}/0`, 'FINISH_REASON_SUCCESS'], [`${jobId}/1`, 'FINISH_REASON_SUCCESS']]);
    // An explicit seed of 0 was sent (and kept): image i gets seed 0 + i.
    expect(images.map((i) => i.params.seed ?? 0).sort()).toEqual([0, 1]);

    const job = (await unary('GetJob', { job_id: jobId }))['job'] as { state: string; spec: { labels: { key: string; value: string }[] } };
    expect(job.state).toBe('JOB_STATE_SUCCEEDED');
    expect(job.spec.labels).toEqual([{ key: 'origin', value: 'reflection' }]);
  });
});
