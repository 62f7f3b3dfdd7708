// Package failover measures what a Redis failover does to sessions. Its
// test (TestFailover) starts a topology of its own from redis-server on
// PATH, serves the token endpoints on it with httptest, keeps clients
// refreshing many sessions through the transport, kills the primary with
// SIGKILL mid-run and counts, per configuration:
//
//   - lost writes: rotations acknowledged to a client (the client saved the
//     new refresh token) that the new primary does not hold, counted once
//     refreshes work again and before the clients go on;
//   - spurious logouts: sessions whose client was told to log in again
//     although nobody revoked them or replayed their tokens;
//   - healed: sessions (not the thief's targets) with a lost rotation
//     that the store healed (EventHealed) when the client presented the
//     child it held: counted lost, and not logged out;
//   - thief wins: 200s to a thief replaying, after the promotion, the
//     refresh tokens whose rotation a client had acknowledged before the
//     kill (strict one-time use: each must be refused), and how many of
//     them were heals;
//   - undone revocations: sessions whose revocation was acknowledged before
//     the kill and whose refresh token works again after it;
//   - recovery: the time from the kill until refreshes work again: until
//     every probe session (sessions of their own, spread over every shard)
//     is refreshed in every round for a second.
//
// Configurations: a Sentinel-managed primary and a 3-master Cluster, each
// with and without redisstore.WithReplicaAck(1, …). TestFailover kills the
// primary as it runs; TestFailoverLagging first cuts its replication links
// for 500 ms (the replicas paused, CLIENT KILL TYPE replica), as behind a
// slow link, so that the writes of that time reach no replica: without
// acknowledgements the harness must count them lost (this is how it proves
// it can see a loss), with them nothing may be lost.
//
// # Topology
//
// Every primary has two replicas (Sentinel: a primary, two replicas, three
// Sentinels with down-after-milliseconds 1000; Cluster: 3 masters with two
// replicas each, cluster-node-timeout 1000), in memory only. WAIT 1 can be
// met only while a replica is connected: with one replica per primary, the
// promoted replica would have none, and every acknowledged write would
// fail until the killed primary came back and resynchronised. Two replicas
// leave the new primary one, so the measurement is of the failover, not of
// a restart. The killed primary is never restarted: without persistence it
// would come back empty. The Cluster client reloads its slot map every
// second: go-redis does so on MOVED, ASK and READONLY, not when a master
// stops answering, and its default period (60 s) made the recovery about a
// minute.
//
// # Phases
//
// Clients refresh (a resource that accepts each access token once makes
// every request refresh through the transport, 401 → refresh → retry),
// each session once a second, the sessions spread evenly over the second:
// a steady rate, and at most one rotation of a session in the 500 ms that
// TestFailoverLagging's replicas miss, as with real clients, which refresh
// once per access-token lifetime.
// Right before the kill, sessions are revoked one after the other; half are
// acknowledged when the primary is killed. The token endpoints then hold
// every client request until the counting is done (probes, the thief and
// the revocation checks pass): no client reaches the new primary before
// its state is counted. The clients go on until every session still logged
// in has made several refreshes.
//
// A run in which the killed primary's keys move again after the counting
// (a second promotion, seen on a loaded machine) is discarded and repeated,
// at most three times: writes lost after the counting would be charged to
// no lost write.
//
// # Running
//
// make test runs one short run per configuration and test
// (FAILOVER_SESSIONS=200, one kill). make failover runs FAILOVER_RUNS=5 (a
// kill each, on a fresh topology) with FAILOVER_SESSIONS=500 and prints the
// tables. Without redis-server the tests are skipped, a failure when
// REDIS_REQUIRED=1.
package failover
