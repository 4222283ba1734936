export {
  FarmClient, GrpcStatus, type ClientOptions, type RetryInfo, type ServiceError, type WatchEvent, type WatchOptions,
} from './sdk.js';
export {
  AdminClient, Role, type AdminClientOptions, type ApiKey, type CreditsAccount, type CreditsGrant, type NewKey, type Tenant, type TenantSettings,
} from './admin.js';
export { retryDelayMs } from './retry-delay.js';
