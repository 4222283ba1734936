export {
  FarmClient, GrpcStatus, type ClientOptions, type RetryInfo, type ServiceError, type WatchEvent, type WatchOptions,
} from './sdk.js';
export { AdminClient, Role, type AdminClientOptions, type ApiKey, type CreditsAccount, type NewKey, type Tenant } from './admin.js';
