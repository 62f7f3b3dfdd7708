// Package redistest runs tests against real Redis: the deployments named by
// the environment, else private redis-server processes (a standalone
// server, a 3-master Cluster, a primary with a replica and three Sentinels,
// a 3-master Cluster with a replica per master), or, on a machine without
// redis-server, an in-process Redis for standalone tests (announced in the
// test log; a failure when REDIS_REQUIRED=1).
//
// Typical use:
//
//	redistest.Each(t, func(t *testing.T, b *redistest.Backend) {
//		prefix := b.Prefix(t) // keys under it are deleted when t ends
//		... b.Client ...
//	})
//
// Each runs the test on standalone Redis, the Cluster, the in-process
// Redis, the Sentinel-managed primary (go-redis' failover client) and the
// replicated Cluster.
//
// Outage tests start a server of their own (StartServer) and Stop, Start,
// Pause or Resume it; NewProxy puts a connection-breaking proxy in front of
// any TCP address. Failover tests start a topology of their own
// (StartSentinel, StartReplicatedCluster) with a short failover timeout and
// kill its primary (Server.Stop).
//
// Environment:
//
//	REDIS_URL                    standalone Redis, e.g. redis://127.0.0.1:16379/0
//	REDIS_CLUSTER_ADDRS          comma-separated seed addresses of a Redis Cluster
//	REDIS_SENTINEL_ADDRS         comma-separated addresses of the Sentinels of a
//	                             primary with at least one replica
//	REDIS_SENTINEL_MASTER        the name they monitor that primary under
//	REDIS_CLUSTER_REPLICA_ADDRS  comma-separated seed addresses of a Redis Cluster
//	                             with replicas
//	REDIS_REQUIRED=1             a missing backend fails the test instead of
//	                             falling back or skipping
//
// Every test gets its own key prefix ([Backend.Prefix]) and its keys are
// deleted when it ends, so packages tested in parallel against one shared
// instance never disturb each other. Never FLUSHALL a shared instance, and
// never fail over a shared one: the deployments of the environment are for
// tests that expect them to stay up.
package redistest
