/** @scope-plugins/docker: a Docker client from `--docker-host`/`DOCKER_HOST`, and a live container inventory. */
export {
  DEFAULT_DOCKER_HOST,
  createDockerClient,
  dockerHostOption,
  dockerOptions,
  dockerResyncOption,
  formatDockerEndpoint,
  parseDockerHost,
  type DockerEndpoint,
} from './docker-host.js';
export { describeDockerFailure, type DockerFailure } from './describe-failure.js';
export { INVENTORY_ACTIONS, MAX_EVENT_LINE_CHARS, REMOVAL_ACTIONS, createLineSplitter, isInventoryEvent, parseDockerEvent, type DockerEvent } from './events.js';
export { acquireDockerInventory, dockerInventoryKey, type DockerInventoryContext, type SharedDockerInventoryOptions } from './shared-inventory.js';
export { createDockerInventory, type DockerInventory, type DockerInventoryOptions, type DockerInventoryStatus } from './inventory.js';
export { buildContainerRecord, isFullContainerId, type ContainerRecord } from './record.js';
