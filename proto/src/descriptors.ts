// The compiled .proto files, for server reflection. `npm run proto:gen` has buf write them as a
// FileDescriptorSet next to the generated code, so reflection serves exactly what protoc would
// (snake_case names with json_name, `XxxEntry` map entries, proto3 `optional`, comments) and
// `npm run proto:check` keeps them current with the .proto sources.
import { existsSync, readFileSync } from 'node:fs';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * The descriptor set stays where buf writes it, src/gen/, while this module runs from src/ (tsx,
 * vitest) or from its compiled copy in dist/src/: found from the package's root, the nearest folder
 * with a package.json.
 */
function descriptorSetUrl(): URL {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    if (existsSync(new URL('package.json', dir))) return new URL('src/gen/file_descriptor_set.binpb', dir);
    if (dir.pathname === '/') throw new Error(`no package.json above ${import.meta.url}`);
  }
}

// google.protobuf.FileDescriptorSet: `repeated FileDescriptorProto file = 1;`
const FILE_FIELD = 1;

/**
 * The serialized FileDescriptorProto of every .proto file of the contract (imports first), byte
 * for byte as buf compiled them: split out of the set without decoding, so nothing is lost.
 */
export function fileDescriptorProtos(): Uint8Array[] {
  const reader = new BinaryReader(readFileSync(descriptorSetUrl()));
  const files: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    if (fieldNo === FILE_FIELD && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, fieldNo);
  }
  return files;
}
