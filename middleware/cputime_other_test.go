//go:build !unix

package middleware

func processCPU() int64 { return -1 }
