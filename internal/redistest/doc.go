// Package redistest runs tests against real Redis: the standalone instance
// and the Cluster named by the environment, a private redis-server, or, on a
// machine without redis-server, an in-process Redis (announced in the test
// log; a failure when REDIS_REQUIRED=1).
//
// Environment:
//
//	REDIS_URL            standalone Redis, e.g. redis://127.0.0.1:16379/0
//	REDIS_CLUSTER_ADDRS  comma-separated seed addresses of a Redis Cluster
//	REDIS_REQUIRED=1     a missing backend fails the test instead of falling back
//
// Every test gets its own key prefix ([Backend.Prefix]) and its keys are
// deleted when it ends, so packages tested in parallel against one shared
// instance never disturb each other. Never FLUSHALL a shared instance.
package redistest
