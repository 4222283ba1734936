// Every stream, bucket, subject and consumer name the JetStream store uses,
// made from one prefix so farms (and tests) can share a server.
export class Names {
  readonly tasksStream: string;
  readonly eventsStream: string;
  readonly jobsBucket: string;
  readonly keysBucket: string;
  readonly deadBucket: string;
  readonly deadStream: string;
  readonly imagesBucket: string;
  readonly imagesStream: string;

  constructor(readonly p: string) {
    this.tasksStream = `${p}_TASKS`;
    this.eventsStream = `${p}_EVENTS`;
    this.jobsBucket = `${p}_JOBS`;
    this.keysBucket = `${p}_KEYS`;
    this.deadBucket = `${p}_DEAD`;
    this.deadStream = `KV_${p}_DEAD`;
    this.imagesBucket = `${p}_IMAGES`;
    this.imagesStream = `OBJ_${p}_IMAGES`;
  }

  task = (jobId: string): string => `${this.p}.task.${jobId}`;
  /** A wildcard filter that matches, in the tasks stream, the job's task subject alone (see tasksInQueue). */
  taskWildcard = (jobId: string): string => `${this.p}.*.${jobId}`;
  taskConsumer = (jobId: string): string => `task_${jobId}`;
  /** The committed-count consumer earlier versions made per job; deleted when such a job ends. */
  tallyConsumer = (jobId: string): string => `tally_${jobId}`;
  events = (jobId: string): string => `${this.p}.ev.${jobId}.>`;
  images = (jobId: string): string => `${this.p}.ev.${jobId}.i.*`;
  image = (jobId: string, index: number): string => `${this.p}.ev.${jobId}.i.${index}`;
  state = (jobId: string, token: string): string => `${this.p}.ev.${jobId}.s.${token}`;
  deadKey = (jobId: string, index: number): string => `${jobId}.${index}`;
  deadSubjects = (jobId: string): string => `$KV.${this.deadBucket}.${jobId}.*`;
  /** The image index an image subject (image()) or a dead-letter subject (deadSubjects()) ends with. */
  indexOf = (subject: string): number => Number(subject.slice(subject.lastIndexOf('.') + 1));
  /** The subject of a job record in its KV bucket's stream. */
  jobSubject = (jobId: string): string => `$KV.${this.jobsBucket}.${jobId}`;
  keySubject = (hashedKey: string): string => `$KV.${this.keysBucket}.${hashedKey}`;
  /** Object store subjects, as the object store itself names them: an image's meta (by its name) and its chunks. */
  imageMeta = (name: string): string => `$O.${this.imagesBucket}.M.${Buffer.from(name).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')}`;
  imageChunks = (nuid: string): string => `$O.${this.imagesBucket}.C.${nuid}`;
}
