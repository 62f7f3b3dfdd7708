package example

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// excerptRE finds a README code block marked as an excerpt of a file.
var excerptRE = regexp.MustCompile("(?s)<!-- excerpt of ([^ ]+) -->\n```go\n(.*?)```")

// TestREADME keeps the README's quick starts honest: every line of a block
// marked "excerpt of FILE" must appear in FILE, in the same order (lines
// may be left out, such as error checks). FILE is compiled and run by the
// tests, so a quick start cannot drift from code that works.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := excerptRE.FindAllStringSubmatch(string(readme), -1)
	if len(blocks) < 3 {
		t.Fatalf("found %d marked quick starts in README.md, want the three (API server, Go client, CLI tool)", len(blocks))
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

func nonBlank(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
