export { Installation, SPEAKER_HEARTBEAT_PORT, SPEAKER_IMAGE_REPOSITORY, SPEAKER_METRICS_PORT } from "./installation.ts";
export type { InstallationArgs } from "./installation.ts";
export { AddressPool, L2Advertisement, SharedIpGroup } from "./pools.ts";
export type { AddressPoolArgs, L2AdvertisementArgs, SharedIpGroupArgs } from "./pools.ts";
export { Allocation, DEFAULT_WAIT_SECONDS, REQUEST_ANNOTATIONS } from "./allocation.ts";
export type { AllocationArgs, ServiceDeclaration, ServiceRequirements } from "./allocation.ts";
