package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/term"
)

// maxPassword bounds the line read from a non-terminal standard input.
const maxPassword = 4 << 10

// readPassword prompts on the terminal without echo, or reads the first
// line of standard input when it is not a terminal (a pipe in a script).
func readPassword(e env, user string) (string, error) {
	var (
		password string
		err      error
	)
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "password for %s: ", user)
		password, err = promptNoEcho(int(f.Fd()))
		fmt.Fprintln(e.stderr)
	} else {
		password, err = firstLine(e.stdin)
	}
	switch {
	case err != nil:
		return "", fmt.Errorf("reading the password: %w", err)
	case password == "":
		return "", errors.New("empty password")
	}
	return password, nil
}

// promptNoEcho reads a password with echo off. An interrupt restores the
// terminal before the process exits: echo left off would outlive us.
func promptNoEcho(fd int) (string, error) {
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	defer func() {
		signal.Stop(sig)
		close(done)
	}()
	go func() {
		select {
		case <-sig:
			_ = term.Restore(fd, state)
			fmt.Fprintln(os.Stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	b, err := term.ReadPassword(fd)
	return string(b), err
}

func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPassword)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	if err == io.EOF && len(line) == maxPassword {
		return "", fmt.Errorf("longer than %d bytes", maxPassword)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
