package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// write runs a script that changes state. With WithReplicaAck it is sent in
// one pipeline with WAIT on the connection of the key's primary, so the
// caller hears of success only once enough replicas hold the change.
func (s *store) write(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.cfg.ackReplicas == 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	var node *redis.Client
	switch c := s.rdb.(type) {
	case *redis.Client:
		node = c
	case *redis.ClusterClient:
		var err error
		if node, err = c.MasterForKey(ctx, keys[0]); err != nil {
			cmd := redis.NewCmd(ctx)
			cmd.SetErr(err)
			return cmd
		}
	}
	cmd, acked, err := s.evalWait(ctx, node, script, keys, args)
	if err == nil && redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
		if err = script.Load(ctx, node).Err(); err == nil {
			cmd, acked, err = s.evalWait(ctx, node, script, keys, args)
		}
	}
	switch {
	case err != nil && cmd.Err() == nil:
		cmd.SetErr(err)
	case cmd.Err() == nil && acked < s.cfg.ackReplicas:
		// Applied on the primary, maybe not on a replica: a failover could
		// lose it. Unknown outcome; a retry (same idempotency key) replays.
		cmd.SetErr(fmt.Errorf("redisstore: %d of %d replicas acknowledged within %v",
			acked, s.cfg.ackReplicas, s.cfg.ackTimeout))
	}
	return cmd
}

func (s *store) evalWait(ctx context.Context, node *redis.Client, script *redis.Script, keys []string, args []any) (*redis.Cmd, int, error) {
	p := node.Pipeline()
	cmd := p.EvalSha(ctx, script.Hash(), keys, args...)
	wait := p.Do(ctx, "wait", s.cfg.ackReplicas, max(s.cfg.ackTimeout.Milliseconds(), 1))
	_, _ = p.Exec(ctx) // errors are on the commands
	acked, err := wait.Int()
	return cmd, acked, err
}
