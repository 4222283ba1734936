export {
  FarmClient, GrpcStatus, type ClientOptions, type RetryInfo, type ServiceError, type WatchEvent, type WatchOptions,
} from './sdk.js';
