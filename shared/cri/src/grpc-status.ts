/**
 * The gRPC status codes this package tests for (fixed by the gRPC spec, doc/statuscodes.md), so checking an error
 * does not load @grpc/grpc-js: the client loads it on first use only, and a suite on a Docker host never does.
 */
export const GRPC_STATUS = {
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
} as const;
