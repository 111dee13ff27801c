/** @scope-plugins/cri: containers of Kubernetes runtimes (containerd, CRI-O) through the CRI API, next to Docker's. */
export { CRI_API_PROTO } from './api-proto.js';
export {
  DEFAULT_CRI_ENDPOINTS,
  createCriClient,
  parseCriEndpoint,
  type CriClient,
  type CriClientOptions,
  type CriContainer,
  type CriContainerConfig,
  type CriContainerState,
  type CriContainerStatusResponse,
  type CriMount,
  type CriNamespaceMode,
  type CriNamespaceOption,
  type CriPodSandbox,
  type CriPodSandboxConfig,
  type CriPodSandboxMetadata,
  type CriPodSandboxStatusResponse,
  type CriVersion,
} from './client.js';
export { describeCriFailure, type CriFailure } from './describe-failure.js';
export { createCriInventory, type ContainerInventory, type ContainerInventoryStatus, type CriInventory, type CriInventoryOptions } from './inventory.js';
export { formatCriState, parseHostNamespaceFlags, parseStatusPid, type CriContainerRecord, type HostNamespaceFlags, type PodRef } from './record.js';
export {
  CONTAINER_RUNTIMES,
  acquireContainerInventory,
  containerRuntimeOption,
  containerRuntimeOptions,
  createContainerInventory,
  isCriContainerRecord,
  parseContainerRuntime,
  runtimeEndpointOption,
  describeRuntimeSelection,
  selectContainerRuntime,
  type ContainerInventoryOptions,
  type ContainerRuntimeChoice,
  type RuntimeContainerRecord,
  type RuntimeSelection,
  type RuntimeSelectionOptions,
} from './select-runtime.js';
