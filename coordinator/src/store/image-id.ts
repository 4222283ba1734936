// An image's id, `<job_id>/<index>` (ImageInfo.id, GetImage's image_id): read
// in one place, so every reader accepts the same ids. Job ids are lowercase
// letters and digits, which also keeps an id from naming a NATS wildcard.
const IMAGE_ID = /^([a-z0-9]+)\/(\d+)$/;

/** The job and index an image id names; undefined for a string that is not an image id. */
export function parseImageId(imageId: string): { jobId: string; index: number } | undefined {
  const m = IMAGE_ID.exec(imageId);
  return m === null ? undefined : { jobId: m[1] as string, index: Number(m[2]) };
}
