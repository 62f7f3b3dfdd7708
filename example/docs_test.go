package example

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The checks of the documentation: README.md's size and sections, the
// relative links (and #anchors) of README.md, CHANGELOG.md and docs/, and
// no Markdown table of With… options with their defaults, since the package
// documentation is the one reference for options. Each check is a function
// of the text, so that TestDocChecks can prove it fails on bad input.

const (
	readmeMaxLines    = 300
	readmeSectionLine = 150 // the required sections start at or before it
)

// readmeSections must appear, exactly so, in README.md's first lines, each
// with code that TestREADME checks: an excerpt of a tested file, or shell
// commands whose programs, targets and flags exist.
var readmeSections = []struct{ heading, code string }{
	{"## Protect a handler", "<!-- excerpt of "},
	{"## Wrap an http.Client", "<!-- excerpt of "},
	{"## Run the demo", "```sh"},
}

// checkREADME returns what is wrong with the README's size and sections.
func checkREADME(text string) []string {
	var problems []string
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) > readmeMaxLines {
		problems = append(problems, fmt.Sprintf("README.md has %d lines, more than %d", len(lines), readmeMaxLines))
	}
	for _, s := range readmeSections {
		at := -1
		for i, l := range lines {
			if strings.TrimRight(l, " ") == s.heading {
				at = i
				break
			}
		}
		switch {
		case at < 0:
			problems = append(problems, fmt.Sprintf("README.md lacks the section %q", s.heading))
		case at+1 > readmeSectionLine:
			problems = append(problems, fmt.Sprintf("README.md: %q is on line %d, after line %d", s.heading, at+1, readmeSectionLine))
		case !strings.Contains(section(lines, at), s.code):
			problems = append(problems, fmt.Sprintf("README.md: section %q has no %s block", s.heading, s.code))
		}
	}
	return problems
}

// section returns the lines of the section whose heading is lines[at], up
// to the next heading of the same or a higher level.
func section(lines []string, at int) string {
	level := strings.IndexByte(lines[at], ' ')
	var b strings.Builder
	fence := false
	for _, l := range lines[at+1:] {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if n := headingLevel(l); !fence && n > 0 && n <= level {
			break
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

// headingLevel is the level of an ATX heading line, 0 for other lines.
func headingLevel(l string) int {
	n := 0
	for n < len(l) && l[n] == '#' {
		n++
	}
	if n == 0 || n > 6 || (n < len(l) && l[n] != ' ') {
		return 0
	}
	return n
}

var (
	codeSpanRE   = regexp.MustCompile("`+[^`]*`+")
	inlineLinkRE = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]*)(?:\s+"[^"]*")?\)`)
	refLinkRE    = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s+(\S+)`)
	schemeRE     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	withOptionRE = regexp.MustCompile(`\bWith[A-Z]\w*`)
)

// prose returns the lines of a Markdown text outside fenced code blocks,
// and the headings among them.
func prose(text string) (lines, headings []string) {
	fence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "```") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		if headingLevel(l) > 0 {
			headings = append(headings, strings.TrimSpace(strings.TrimRight(strings.TrimLeft(l, "#"), "# ")))
		}
		lines = append(lines, l)
	}
	return lines, headings
}

// anchors returns the anchors GitHub gives the headings of a Markdown text:
// the heading's text (links reduced to their text) in lower case, with
// every character but letters, digits, marks, '-' and '_' removed and each
// space made '-'; a repeated anchor gets -1, -2, … appended.
func anchors(text string) map[string]bool {
	_, headings := prose(text)
	out := make(map[string]bool)
	seen := make(map[string]int)
	linkText := regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	for _, h := range headings {
		var b strings.Builder
		for _, r := range strings.ToLower(linkText.ReplaceAllString(h, "$1")) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			seen[a] = n + 1
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			seen[a] = 1
		}
		out[a] = true
	}
	return out
}

// links returns the link targets of a Markdown text, outside code.
func links(text string) []string {
	lines, _ := prose(text)
	for i, l := range lines {
		lines[i] = codeSpanRE.ReplaceAllString(l, "``")
	}
	joined := strings.Join(lines, "\n")
	var out []string
	for _, m := range inlineLinkRE.FindAllStringSubmatch(joined, -1) {
		out = append(out, m[1])
	}
	for _, m := range refLinkRE.FindAllStringSubmatch(joined, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkLinks checks every relative link of the Markdown files in docs
// (slash-separated paths relative to the repository root, mapped to their
// text): the target must be one of docs or exist (exists), and an #anchor
// into a Markdown file must name one of its headings.
func checkLinks(docs map[string]string, exists func(name string) bool) []string {
	var problems []string
	for name, text := range docs {
		for _, target := range links(text) {
			if target == "" || schemeRE.MatchString(target) {
				continue
			}
			file, frag, _ := strings.Cut(strings.Trim(target, "<>"), "#")
			dest := name
			if file != "" {
				dest = path.Clean(path.Join(path.Dir(name), file))
			}
			body, isDoc := docs[dest]
			if !isDoc && !exists(dest) {
				problems = append(problems, fmt.Sprintf("%s: link %q: %s does not exist", name, target, dest))
				continue
			}
			if frag == "" || !strings.HasSuffix(dest, ".md") {
				continue
			}
			if !isDoc {
				problems = append(problems, fmt.Sprintf("%s: link %q: anchors are checked only in the documentation's own files", name, target))
			} else if !anchors(body)[frag] {
				problems = append(problems, fmt.Sprintf("%s: link %q: %s has no heading with anchor #%s", name, target, dest, frag))
			}
		}
	}
	return problems
}

// checkOptionTables reports a Markdown table that lists With… options with
// their defaults: one whose header names a default, or one of whose rows
// names an option and a default.
func checkOptionTables(name, text string) []string {
	lines, _ := prose(text)
	var problems []string
	header := ""
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "|") {
			header = ""
			continue
		}
		if header == "" {
			header = strings.ToLower(l)
			continue
		}
		if !withOptionRE.MatchString(l) {
			continue
		}
		if strings.Contains(header, "default") || strings.Contains(strings.ToLower(l), "default") {
			problems = append(problems, fmt.Sprintf("%s: line %d: a table lists %s with its default; link to its documentation instead",
				name, i+1, withOptionRE.FindString(l)))
		}
	}
	return problems
}

// checkHandlerDoc reports a Handler doc comment that does not link to the
// HTTP contract, and a package documentation that still holds it.
func checkHandlerDoc(handlerDoc, packageDoc string) []string {
	var problems []string
	if !strings.Contains(handlerDoc, "docs/http-api.md") {
		problems = append(problems, "Service.Handler's doc comment does not link to docs/http-api.md")
	}
	for _, contract := range []string{"unsupported_grant_type", "Accept-Post", "invalid_client"} {
		if strings.Contains(handlerDoc+packageDoc, contract) {
			problems = append(problems, fmt.Sprintf("the root package's documentation still holds the HTTP contract (%s): it belongs in docs/http-api.md", contract))
		}
	}
	return problems
}

// repoDocs reads README.md, CHANGELOG.md and docs/*.md, by their path
// relative to the repository root.
func repoDocs(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs := make(map[string]string)
	for _, n := range append(names, filepath.Join("..", "README.md"), filepath.Join("..", "CHANGELOG.md")) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel("..", n)
		docs[filepath.ToSlash(rel)] = string(b)
	}
	return docs
}

// rootDocs returns the doc comments of Service.Handler and of the root
// package.
func rootDocs(t *testing.T) (handler, pkg string) {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range []string{"handler.go", "doc.go"} {
		f, err := parser.ParseFile(fset, filepath.Join("..", name), nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		pkg += f.Doc.Text()
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Handler" && fn.Recv != nil {
				handler = fn.Doc.Text()
			}
		}
	}
	return handler, pkg
}

// TestDocs runs the documentation checks on the repository's files.
func TestDocs(t *testing.T) {
	docs := repoDocs(t)
	if len(docs) < 10 {
		t.Fatalf("found %d documentation files, want README.md, CHANGELOG.md and the 8 pages of docs/", len(docs))
	}
	problems := checkREADME(docs["README.md"])
	problems = append(problems, checkLinks(docs, func(name string) bool {
		_, err := os.Stat(filepath.Join("..", filepath.FromSlash(name)))
		return err == nil
	})...)
	for name, text := range docs {
		problems = append(problems, checkOptionTables(name, text)...)
	}
	problems = append(problems, checkHandlerDoc(rootDocs(t))...)
	for _, p := range problems {
		t.Error(p)
	}
}

// goodREADME is a README that passes checkREADME, with n lines in all.
func goodREADME(n int) string {
	var b strings.Builder
	b.WriteString("# x\n")
	for _, s := range readmeSections {
		b.WriteString(s.heading + "\n\n" + s.code + "\n```\n")
	}
	for strings.Count(b.String(), "\n") < n {
		b.WriteString("text\n")
	}
	return b.String()
}

// TestDocChecks proves that each check of TestDocs fails on a bad input
// and passes the corresponding good one.
func TestDocChecks(t *testing.T) {
	late := strings.Repeat("text\n", readmeSectionLine) + goodREADME(0)
	cases := []struct {
		name, text string
		check      func(string) []string
		problems   int
	}{
		{"README of 300 lines", goodREADME(readmeMaxLines), checkREADME, 0},
		{"README of 301 lines", goodREADME(readmeMaxLines + 1), checkREADME, 1},
		{"README sections after line 150", late, checkREADME, len(readmeSections)},
		{"README section renamed", strings.Replace(goodREADME(10), "## Protect a handler", "## Protect a Handler", 1), checkREADME, 1},
		{"README section demoted", strings.Replace(goodREADME(10), "## Run the demo", "### Run the demo", 1), checkREADME, 1},
		{"README section without code", strings.Replace(goodREADME(10), "## Wrap an http.Client\n\n<!-- excerpt of ", "## Wrap an http.Client\n\n", 1), checkREADME, 1},
		{"README code only in the next section", "## Protect a handler\n\n## Other\n\n<!-- excerpt of \n" + goodREADME(10), checkREADME, 1},
		{"option table with a default column", "| option | default |\n|---|---|\n| `WithReuseGrace(d)` | 0 |\n", tableCheck, 1},
		{"option table with defaults in a row", "| option | what |\n|---|---|\n| `WithLeeway(e, f)` | default 0, 1 min |\n", tableCheck, 1},
		{"two option tables", "| option | default |\n|---|---|\n| `WithA` | 1 |\n\n| x | y |\n|---|---|\n| `WithB` | default 2 |\n", tableCheck, 2},
		{"table of defaults without options", "| setting | default |\n|---|---|\n| realm | api |\n", tableCheck, 0},
		{"table naming an option without a default", "| client | needs |\n|---|---|\n| x/oauth2 | `WithReuseGrace` |\n", tableCheck, 0},
		{"option table in a code block", "```\n| option | default |\n|---|---|\n| `WithA` | 1 |\n```\n", tableCheck, 0},
	}
	for _, tc := range cases {
		if got := tc.check(tc.text); len(got) != tc.problems {
			t.Errorf("%s: %d problems %q, want %d", tc.name, len(got), got, tc.problems)
		}
	}
}

func tableCheck(text string) []string { return checkOptionTables("x.md", text) }

// TestLinkChecks proves that checkLinks finds every kind of broken link,
// including anchors under GitHub's rules, and passes the good ones.
func TestLinkChecks(t *testing.T) {
	target := "# Title\n\n## Wrap an http.Client\n\n## `redisstore.WithLifetime(idle, absolute)`\n\n" +
		"## FAQ\n\n## FAQ\n\n## Émile & co: “quotes”, 50 %\n\n## A [linked](page.md) heading\n\n```sh\n# not a heading\n```\n"
	exists := func(name string) bool { return name == "src/file.go" || name == "docs" }
	cases := []struct {
		link     string
		problems int
	}{
		{"[ok](target.md)", 0},
		{"[ok](target.md#wrap-an-httpclient)", 0},
		{"[ok](target.md#redisstorewithlifetimeidle-absolute)", 0},
		{"[ok](target.md#faq)", 0},
		{"[ok](target.md#faq-1)", 0},
		{"[ok](target.md#émile--co-quotes-50-)", 0},
		{"[ok](target.md#a-linked-heading)", 0},
		{"[ok](#own-heading)", 0},
		{"[ok](../src/file.go)", 0},
		{"[ok](../docs)", 0},
		{"[ok](https://example.com/missing.md#nowhere)", 0},
		{"[ok][ref]\n\n[ref]: target.md#title", 0},
		{"`[not a link](missing.md)`", 0},
		{"```\n[not a link](missing.md)\n```", 0},
		{"[bad](missing.md)", 1},
		{"[bad](../src/missing.go)", 1},
		{"[bad](target.md#wrap-an-http.client)", 1},
		{"[bad](target.md#faq-2)", 1},
		{"[bad](target.md#not-a-heading)", 1},
		{"[bad](#missing)", 1},
		{"[bad][ref]\n\n[ref]: missing.md", 1},
		{"![bad](missing.png)", 1},
		{"[bad](../src/file.go#L1) and [bad](target.md#Title)", 1},
	}
	for _, tc := range cases {
		docs := map[string]string{"docs/target.md": target, "docs/page.md": "## Own heading\n\n" + tc.link + "\n"}
		if got := checkLinks(docs, exists); len(got) != tc.problems {
			t.Errorf("%s: %d problems %q, want %d", tc.link, len(got), got, tc.problems)
		}
	}
}

// TestHandlerDocCheck proves that checkHandlerDoc wants the link and
// refuses the contract in the root package's documentation.
func TestHandlerDocCheck(t *testing.T) {
	link := "See docs/http-api.md."
	for _, tc := range []struct {
		handler, pkg string
		problems     int
	}{
		{link, "# Session check", 0},
		{"Serves the endpoints.", "", 1},
		{link, "400 unsupported_grant_type: …", 1},
		{link + " 415 with Accept-Post", "", 1},
	} {
		if got := checkHandlerDoc(tc.handler, tc.pkg); len(got) != tc.problems {
			t.Errorf("%q, %q: %d problems %q, want %d", tc.handler, tc.pkg, len(got), got, tc.problems)
		}
	}
}
