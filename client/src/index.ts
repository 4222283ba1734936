export { FarmClient, GrpcStatus, type ClientOptions, type WatchEvent, type WatchOptions, type ServiceError } from './sdk.js';
export { parsePromptFile, parsePromptText } from './cli/prompts.js';
