package failover

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFailover kills the primary of each configuration mid-run
// (FAILOVER_RUNS times, on a fresh topology each) and reports the counts.
// With replica acknowledgements every count must be 0; without them, every
// spurious logout and thief win must come from a lost write.
func TestFailover(t *testing.T) {
	runConfigurations(t, 0)
}

// TestFailoverLagging does the same with the primary's replicas paused for
// the last 500 ms before the kill, as behind a slow replication link: the
// harness must see the writes of that time lost without acknowledgements,
// and none with them.
func TestFailoverLagging(t *testing.T) {
	runConfigurations(t, 500*time.Millisecond)
}

func runConfigurations(t *testing.T, lag time.Duration) {
	runs := envInt(t, "FAILOVER_RUNS", 1)
	sessions := envInt(t, "FAILOVER_SESSIONS", 200)
	// 18 probe sessions: the chance that none is on the killed master's
	// slots (2/3 each, hashed at random) is below 0.1 %.
	p := params{sessions: sessions, workers: 16, revocations: max(sessions/4, 2), probes: 18, after: 3, lag: lag,
		interval: time.Second}
	var table []row
	for _, topo := range []string{sentinel, cluster} {
		for _, ack := range []bool{false, true} {
			name := fmt.Sprintf("%s/ack=%v", topo, ack)
			ok := t.Run(name, func(t *testing.T) {
				r := row{name: name}
				for i := range runs {
					out := runOnce(t, topo, ack, p)
					t.Logf("run %d: %+v", i+1, out)
					check(t, out, ack, lag)
					r.runs = append(r.runs, out)
				}
				table = append(table, r)
			})
			if !ok {
				t.Logf("%s failed; the table lacks it", name)
			}
		}
	}
	t.Logf("%d sessions, %d run(s) per configuration, a kill each, replicas lagging %v:\n%s", sessions, runs, lag, format(table))
}

func runOnce(t *testing.T, topo string, ack bool, p params) outcome {
	t.Helper()
	var out outcome
	for attempt := 1; ; attempt++ {
		again := false
		t.Run("run", func(t *testing.T) { // its own cleanup: the topology is stopped when the run ends
			r := newRun(t, topo, ack, p)
			var err error
			out, err = r.execute(t.Context())
			switch {
			case errors.Is(err, errPromotedAgain) && attempt < maxAttempts:
				t.Logf("discarded, run again: %v (counted %+v)", err, out)
				again = true
			case err != nil:
				t.Fatal(err)
			}
		})
		if t.Failed() {
			t.FailNow()
		}
		if !again {
			return out
		}
	}
}

// maxAttempts bounds the runs discarded for a second promotion (the
// Sentinels or Cluster nodes of a loaded machine failing over the new
// primary too) before one counts as a failure.
const maxAttempts = 3

// check fails the test when the run is not what the configuration
// guarantees, or measured nothing.
func check(t *testing.T, o outcome, ack bool, lag time.Duration) {
	t.Helper()
	if lag > 0 && !ack && o.lostWrites == 0 {
		t.Errorf("replicas lagging %v and no acknowledgements, yet no lost write: the harness cannot see losses", lag)
	}
	if o.thiefTries == 0 || o.revokedBefore == 0 {
		t.Errorf("nothing to measure: %d spent tokens for the thief, %d revocations acknowledged before the kill", o.thiefTries, o.revokedBefore)
	}
	if ack && (o.lostWrites != 0 || o.spurious != 0 || o.healed != 0 || o.thiefWins != 0 || o.undone != 0) {
		t.Errorf("with replica acknowledgements: %d lost writes, %d spurious logouts, %d healed, %d thief wins, %d undone revocations; want 0 each",
			o.lostWrites, o.spurious, o.healed, o.thiefWins, o.undone)
	}
	// A healed session is one whose rotation was lost and that stayed
	// logged in: lost writes bound both together.
	if o.spurious+o.healed > o.lostWrites-o.lostThief || o.thiefWins > o.lostThief {
		t.Errorf("%d spurious logouts, %d healed and %d thief wins, but only %d and %d lost writes that could explain them",
			o.spurious, o.healed, o.thiefWins, o.lostWrites-o.lostThief, o.lostThief)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number, at least 1", name, v)
	}
	return n
}

// row is a configuration's runs.
type row struct {
	name string
	runs []outcome
}

// format prints the table: per configuration the sum over its runs (and
// each run's figure), the recovery's median and maximum.
func format(rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %4s  %-22s %-22s %-22s %-22s %-10s %-22s %s\n", "configuration", "runs",
		"lost writes", "spurious logouts", "healed", "thief wins/tries", "(healed)", "undone/revoked", "recovery median, max")
	for _, r := range rows {
		col := func(f func(outcome) int) string {
			sum, each := 0, make([]string, len(r.runs))
			for i, o := range r.runs {
				sum += f(o)
				each[i] = strconv.Itoa(f(o))
			}
			return fmt.Sprintf("%d (%s)", sum, strings.Join(each, ","))
		}
		ratio := func(num, den func(outcome) int) string {
			n, d := 0, 0
			for _, o := range r.runs {
				n, d = n+num(o), d+den(o)
			}
			return fmt.Sprintf("%d/%d", n, d)
		}
		var rec []time.Duration
		for _, o := range r.runs {
			rec = append(rec, o.recovery)
		}
		slices.Sort(rec)
		fmt.Fprintf(&b, "%-20s %4d  %-22s %-22s %-22s %-22s %-10d %-22s %v, %v\n", r.name, len(r.runs),
			col(func(o outcome) int { return o.lostWrites }),
			col(func(o outcome) int { return o.spurious }),
			col(func(o outcome) int { return o.healed }),
			ratio(func(o outcome) int { return o.thiefWins }, func(o outcome) int { return o.thiefTries }),
			sum(r.runs, func(o outcome) int { return o.thiefHealed }),
			ratio(func(o outcome) int { return o.undone }, func(o outcome) int { return o.revokedBefore }),
			rec[len(rec)/2].Round(10*time.Millisecond), rec[len(rec)-1].Round(10*time.Millisecond))
	}
	return b.String()
}

func sum(runs []outcome, f func(outcome) int) int {
	n := 0
	for _, o := range runs {
		n += f(o)
	}
	return n
}
