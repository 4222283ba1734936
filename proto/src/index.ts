// Public face of the generated contract. Everything else imports from here.
export * from './gen/latentfarm/v1/types.js';
export {
  RenderFarmClient, RenderFarmService, type RenderFarmServer,
  SubmitJobRequest, SubmitJobResponse, SubmitJobStreamRequest, SubmitJobStreamResponse, PromptChunk,
  WatchJobRequest, WatchJobResponse, JobStateChanged, ImageProgress, ImageStep, ImageResult,
  GetJobRequest, GetJobResponse, ListJobsRequest, ListJobsResponse, CancelJobRequest, CancelJobResponse,
  GetImageRequest, GetImageResponse, EstimateCostRequest, EstimateCostResponse,
  GetFarmStatusRequest, GetFarmStatusResponse, WorkerStatus, ModelStatus,
} from './gen/latentfarm/v1/render_farm.js';
export {
  WorkerGatewayClient, WorkerGatewayService, type WorkerGatewayServer,
  ConnectRequest, ConnectResponse, Hello, Credit, TaskStep, TaskProgress, StageTimings, TaskResult,
  TaskFailure, TaskRelease, Heartbeat, Welcome, Task, LeaseTasks, CancelTasks, Drain, ModelDefaults,
} from './gen/latentfarm/v1/worker_gateway.js';

export { fileDescriptorProtos } from './descriptors.js';

// Hand-written contract helpers every part reads (not generated).
export * from './schedulers.js';
export * from './batch-group.js';
export * from './seeds.js';
export * from './grant-request-id.js';
export * from './retry-info.js';
export { Status as RpcStatus } from './gen/google/rpc/status.js';
export { RetryInfo } from './gen/google/rpc/error_details.js';
export {
  FarmAdminClient, FarmAdminService, type FarmAdminServer, Role, Tenant, ApiKey,
  CreateTenantRequest, CreateTenantResponse, UpdateTenantRequest, UpdateTenantResponse, ListTenantsRequest, ListTenantsResponse, CreateKeyRequest, CreateKeyResponse,
  ListKeysRequest, ListKeysResponse, RevokeKeyRequest, RevokeKeyResponse,
} from './gen/latentfarm/v1/farm_admin.js';
export {
  CreditsAccount, CreditsEntry, CreditsEntryKind, GetCreditsRequest, GetCreditsResponse, GrantCreditsRequest, GrantCreditsResponse,
} from './gen/latentfarm/v1/credits.js';
