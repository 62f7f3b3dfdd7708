// Package redistest runs tests against real Redis: the standalone instance
// and the Cluster named by the environment, else private redis-server
// processes (a standalone server, a 3-master Cluster), or, on a machine
// without redis-server, an in-process Redis for standalone tests (announced
// in the test log; a failure when REDIS_REQUIRED=1).
//
// Typical use:
//
//	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
//		prefix := b.Prefix(t) // keys under it are deleted when t ends
//		... b.Client ...
//	})
//
// Outage tests start a server of their own (StartServer) and Stop, Start,
// Pause or Resume it; NewProxy puts a connection-breaking proxy in front of
// any TCP address.
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
