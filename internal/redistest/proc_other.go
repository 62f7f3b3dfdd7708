//go:build !linux

package redistest

import (
	"os/exec"
	"time"
)

func dieWithParent(*exec.Cmd) {}

// selfCPU is not measured here: CPUMeter reports nothing.
func selfCPU() time.Duration { return 0 }
