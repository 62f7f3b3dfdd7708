package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a private redis-server process owned by one test, for outage
// tests: stop it, pause it, start it again on the same address. It keeps an
// append-only file (appendfsync always) so data survive a restart, as in a
// production setup. The process is killed when the test ends.
type Server struct {
	Addr string // 127.0.0.1:port

	t    testing.TB
	dir  string
	conf string // a configuration file to start from (a Sentinel's), or ""
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// StartServer starts a redis-server from PATH on a free loopback port, with
// extra configuration args (e.g. "--replicaof", host, port), kept for
// restarts. Without redis-server the test is skipped (a failure when
// REDIS_REQUIRED=1).
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return startServer(t, freePort, args...)
}

func startServer(t testing.TB, pick func() (int, error), args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "redis-server is not on PATH")
	}
	return launch(t, &Server{t: t, dir: t.TempDir(), args: args}, pick)
}

// launch starts s on a port from pick and stops it when t ends.
func launch(t testing.TB, s *Server, pick func() (int, error)) *Server {
	t.Helper()
	t.Cleanup(func() { s.Stop() })
	var err error
	for range 5 { // another process may take the free port first
		if s.port, err = pick(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", err)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	log := filepath.Join(s.dir, "redis.log")
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(append(args,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", s.dir, "--logfile", log, "--daemonize", "no",
		"--save", "", "--appendonly", "yes", "--appendfsync", "always",
		"--maxmemory-policy", "noeviction"), s.args...)
	cmd := exec.Command("redis-server", args...)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { // owned by s: ends when the process does (Stop kills it)
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			out, _ := os.ReadFile(log)
			return fmt.Errorf("redis-server exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("redis-server on %s not ready: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Client returns a new client of the server (ContextTimeoutEnabled), closed
// when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// Host and Port split Addr, e.g. for "--replicaof", srv.Host(), srv.Port().
func (s *Server) Host() string { return "127.0.0.1" }

// Port is the server's TCP port as a string.
func (s *Server) Port() string { return strconv.Itoa(s.port) }

// Stop kills the server (as a crash would) and waits for it to exit.
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Start restarts a stopped server on the same address; data written with
// appendfsync come back from the append-only file.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restarting redis-server: %v", err)
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing is
// answered, the hardest outage for a client's timeouts. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("redistest: server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %v: %v", sig, err)
	}
}
