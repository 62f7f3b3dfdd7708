//go:build unix

package example

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// excerptRE finds a README code block marked as an excerpt of a file.
	excerptRE = regexp.MustCompile("(?s)<!-- excerpt of ([^ ]+) -->\n```go\n(.*?)```")
	// shellRE finds the README's shell blocks.
	shellRE = regexp.MustCompile("(?s)```sh\n(.*?)```")
	// targetRE finds the targets of the Makefile.
	targetRE = regexp.MustCompile(`(?m)^([a-z]+):`)
)

// TestREADME keeps the README's code honest. Every line of a block marked
// "excerpt of FILE" must appear in FILE, in the same order (lines may be
// left out, such as error checks); FILE is compiled and run by the tests.
// Every command of a shell block must name a make target of the Makefile,
// or an example program with flags (and, for the CLI, a command) that the
// program's own -h lists: the programs are built and asked.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("excerpts", func(t *testing.T) { checkExcerpts(t, string(readme)) })
	t.Run("commands", func(t *testing.T) { checkCommands(t, string(readme)) })
}

func checkExcerpts(t *testing.T, readme string) {
	blocks := excerptRE.FindAllStringSubmatch(readme, -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d marked excerpts in README.md, want the three (API server, Go client, CLI tool)", len(blocks))
	}
	for _, b := range blocks {
		file, snippet := b[1], b[2]
		src, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(file)))
		if err != nil {
			t.Errorf("README excerpt of %s: %v", file, err)
			continue
		}
		lines := nonBlank(string(src))
		i := 0
		for _, want := range nonBlank(snippet) {
			for i < len(lines) && lines[i] != want {
				i++
			}
			if i == len(lines) {
				t.Errorf("README excerpt of %s: line %q is not in the file (after the previous line of the excerpt)", file, want)
				break
			}
			i++
		}
	}
}

func checkCommands(t *testing.T, readme string) {
	makefile, err := os.ReadFile(filepath.Join("..", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	targets := map[string]bool{}
	for _, m := range targetRE.FindAllStringSubmatch(string(makefile), -1) {
		targets[m[1]] = true
	}
	helps := map[string]string{}
	n := 0
	for _, block := range shellRE.FindAllStringSubmatch(readme, -1) {
		for _, line := range strings.Split(block[1], "\n") {
			line, _, _ = strings.Cut(line, " #")
			if words := strings.Fields(line); len(words) > 0 {
				n++
				checkCommand(t, words, targets, helps)
			}
		}
	}
	if n < 5 {
		t.Fatalf("found %d commands in the README's shell blocks, want make demo, make test and the example programs", n)
	}
}

// checkCommand checks one command of a README shell block.
func checkCommand(t *testing.T, words []string, targets map[string]bool, helps map[string]string) {
	cmd := strings.Join(words, " ")
	switch {
	case words[0] == "make":
		for _, w := range words[1:] {
			if !strings.Contains(w, "=") && !targets[w] {
				t.Errorf("README: %q: the Makefile has no target %s", cmd, w)
			}
		}
	case len(words) > 1 && words[0] == "go" && words[1] == "get":
	case len(words) > 2 && words[0] == "go" && words[1] == "run" && strings.HasPrefix(words[2], "./example/"):
		prog := strings.TrimPrefix(words[2], "./example/")
		help, ok := helps[prog]
		if !ok {
			help = programHelp(t, prog)
			helps[prog] = help
		}
		checkArgs(t, cmd, prog, help, words[3:])
	default:
		t.Errorf("README: %q: TestREADME has no check for this command", cmd)
	}
}

// checkArgs checks that every flag of a program's command line, and the
// CLI's command, appear in the program's -h output.
func checkArgs(t *testing.T, cmd, prog, help string, args []string) {
	command := prog != "cli"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if name, ok := strings.CutPrefix(a, "-"); ok {
			name, _, _ = strings.Cut(strings.TrimPrefix(name, "-"), "=")
			if !regexp.MustCompile(`(?m)(^|[\s\[])-` + regexp.QuoteMeta(name) + `([\s\]=]|$)`).MatchString(help) {
				t.Errorf("README: %q: %s -h lists no flag -%s", cmd, prog, name)
			}
			if !command && !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++ // the value of a global flag before the command
			}
			continue
		}
		if !command {
			command = true
			if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(a) + `\s`).MatchString(help) {
				t.Errorf("README: %q: %s -h lists no command %s", cmd, prog, a)
			}
		}
	}
}

// programHelp builds the example programs (once) and returns what prog -h
// prints.
func programHelp(t *testing.T, prog string) string {
	bin := filepath.Join(buildPrograms(t), prog)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no example program %s: %v", prog, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput() // -h exits with status 2 or 0
	if !strings.Contains(string(out), "-") {
		t.Fatalf("%s -h printed no flags: %s", prog, out)
	}
	return string(out)
}

func nonBlank(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
