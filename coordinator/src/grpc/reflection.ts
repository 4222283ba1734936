// gRPC server reflection (grpc.reflection.v1 and v1alpha) over the real compiled .proto files.
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { fileDescriptorProtos } from '@latentfarm/proto';

type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/**
 * Adds reflection for every service in the contract. @grpc/reflection takes a proto-loader package
 * definition but reads nothing from it except each entry's `fileDescriptorProtos`, indexing files
 * by their own names. proto-loader's descriptors are rebuilt by protobufjs and lossy (one merged
 * file per package, camelCase fields, map entries without the `Entry` suffix, no proto3 optional),
 * so each entry here carries one file exactly as buf compiled it instead.
 */
export function addReflection(server: Pick<Server, 'addService'>): void {
  const definition: PackageDefinition = {};
  fileDescriptorProtos().forEach((bytes, i) => {
    definition[`file${i}`] = { format: 'Protocol Buffer 3 EnumDescriptorProto', type: {}, fileDescriptorProtos: [Buffer.from(bytes)] };
  });
  new ReflectionService(definition).addToServer(server);
}
