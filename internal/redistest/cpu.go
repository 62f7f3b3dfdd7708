package redistest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// CPUMeter reports a benchmark's CPU time per operation, "cpu-µs/op": this
// process's (user + system; it holds the client and, for HTTP benchmarks,
// the server) plus the Redis server's. On a shared, loaded machine, where
// wall-clock times swing with other processes, the CPU an operation costs
// is the steadier figure: with every core busy, throughput goes as its
// inverse. Only for a private server (not REDIS_URL, not the in-process
// Redis); otherwise it reports nothing.
type CPUMeter struct {
	b          *testing.B
	c          *redis.Client
	self, node time.Duration
}

// StartCPU starts measuring; call Stop after the benchmark's loop.
func (be *Backend) StartCPU(b *testing.B) *CPUMeter {
	c, ok := be.Client.(*redis.Client)
	if !ok || be.Mini != nil || be.Name != Standalone || os.Getenv("REDIS_URL") != "" {
		return &CPUMeter{b: b}
	}
	m := &CPUMeter{b: b, c: c}
	m.self, m.node = selfCPU(), m.serverCPU()
	return m
}

// Stop reports cpu-µs/op since StartCPU.
func (m *CPUMeter) Stop() {
	if m.c == nil || m.b.N == 0 || selfCPU() == 0 {
		return
	}
	total := selfCPU() - m.self + m.serverCPU() - m.node
	m.b.ReportMetric(float64(total)/float64(time.Microsecond)/float64(m.b.N), "cpu-µs/op")
}

// serverCPU is used_cpu_user + used_cpu_sys of INFO cpu.
func (m *CPUMeter) serverCPU() time.Duration {
	info, err := m.c.Info(context.Background(), "cpu").Result()
	if err != nil {
		m.b.Fatal(err)
	}
	var sec float64
	for _, l := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			sec += f
		}
	}
	return time.Duration(sec * float64(time.Second))
}
