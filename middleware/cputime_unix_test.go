//go:build unix

package middleware

import "syscall"

// processCPU returns the CPU time this process has used (user and system,
// all threads, garbage collection included), in nanoseconds, or -1.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
