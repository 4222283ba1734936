// A process that writes to an embedded store until it is killed, for the crash test in embedded.test.ts:
// argv: <data dir> <job id> <images>. It creates the job, then for each image commits its event with the image
// (crashTestImage: small ones in the database, large ones as files), printing `committed <index>` once the commit has resolved (the store acknowledged it).
import { EmbeddedStore, INLINE_IMAGE_BYTES } from './embedded.js';
import { crashTestImage, info, record, source } from './store.contract.js';

const [dir, jobId, images] = process.argv.slice(2) as [string, string, string];
const total = Number(images);
const store = new EmbeddedStore(dir);
await store.createJob(record(jobId, total), source(jobId, total));
await store.claimIdempotencyKey(`key-${jobId}`, jobId);
process.stdout.write('created\n');
for (;;) {
  // Leases and commits in small concurrent groups, as a farm does: writes are in flight when the kill lands.
  const leases = await store.leaseTasks(jobId, 8);
  if (leases.length === 0) break;
  await Promise.all(leases.map(async (l) => {
    const i = l.task.index;
    await store.commitImage(jobId, i, info(jobId, i), { data: crashTestImage(i, INLINE_IMAGE_BYTES + 1), mimeType: 'image/png' });
    await store.completeLease(l);
    process.stdout.write(`committed ${i}\n`);
  }));
}
process.stdout.write('done\n');
