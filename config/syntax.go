package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml/token"
)

// syntaxProblem adds the parser's syntax error at tok as a problem at the
// place the mistake most likely is. The parser reports where it gave up,
// which for some mistakes is lines away from them: a quote left open runs
// on to the next quote in the file, a key indented one space too far
// becomes part of the value above it, a '[' left open is found wrong at
// the next line, and a mapping whose first key is indented oddly only at
// its second key.
func (d *decoder) syntaxProblem(tokens token.Tokens, tok *token.Token, msg string) {
	msg = strings.TrimSpace(msg)
	if strings.Contains(msg, "found character '\t'") {
		msg = "a tab character: YAML indents with spaces only"
	}
	i := tokenIndex(tokens, tok)
	if i < 0 {
		d.add(tok, "", "invalid YAML: %s", msg)
		return
	}
	s := &syntax{tokens: tokens}
	at := tokens[i].Position
	where := fmt.Sprintf("line %d, column %d", at.Line, at.Column)
	if q := s.openQuote(i); q != nil {
		d.addAt(q.Position, "invalid YAML: the quoted value that starts here runs on to line %d: is its closing quote missing? (at %s: %s)", endLine(q), where, msg)
		return
	}
	if pos, m := s.continuedKey(i); m != "" {
		d.addAt(pos, "invalid YAML: %s", m)
		return
	}
	if o := s.openFlow(i, msg); o != nil {
		d.addAt(o.Position, "invalid YAML: this %s is not closed on its line (at %s: %s)", o.Value, where, msg)
		return
	}
	if pos, m := s.misindented(i); m != "" {
		d.addAt(pos, "invalid YAML: %s", m)
		return
	}
	d.add(tok, "", "invalid YAML: %s", msg)
}

func (d *decoder) addAt(pos *token.Position, format string, args ...any) {
	d.problems = append(d.problems, &Problem{File: d.name, Line: pos.Line, Column: pos.Column, Msg: fmt.Sprintf(format, args...)})
}

// tokenIndex finds tok among tokens by position (the parser may hand back
// a copy of the lexer's token); -1 if it is not there.
func tokenIndex(tokens token.Tokens, tok *token.Token) int {
	if tok == nil || tok.Position == nil {
		return -1
	}
	for i, t := range tokens {
		if t == tok || t.Position != nil && t.Position.Offset == tok.Position.Offset && t.Type == tok.Type {
			return i
		}
	}
	return -1
}

// text is what a token spans in the file, without the blanks around it.
func text(t *token.Token) string { return strings.TrimSpace(t.Origin) }

// endLine is the line a token ends on.
func endLine(t *token.Token) int { return t.Position.Line + strings.Count(text(t), "\n") }

type syntax struct{ tokens token.Tokens }

// keyAndValue is a line that reads as a key and a value without the ':'.
var keyAndValue = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*[ \t]+[^#]`)

// prev is the index of the token before i that is not a comment, or -1.
func (s *syntax) prev(i int) int {
	for j := i - 1; j >= 0; j-- {
		if s.tokens[j].Type != token.CommentType {
			return j
		}
	}
	return -1
}

// startsLine reports whether token j is the first of its line, or the
// first after a '-' entry.
func (s *syntax) startsLine(j int) bool {
	p := s.prev(j)
	return p < 0 || s.tokens[j].Position.Line > endLine(s.tokens[p]) || s.tokens[p].Type == token.SequenceEntryType
}

// isEntry reports whether token j is a '-' or a key (followed by ':' on
// its line).
func (s *syntax) isEntry(j int) bool {
	t := s.tokens[j]
	return t.Type == token.SequenceEntryType ||
		j+1 < len(s.tokens) && s.tokens[j+1].Type == token.MappingValueType && s.tokens[j+1].Position.Line == t.Position.Line
}

// openQuote returns the quoted value spanning lines that ends on the line
// of the error, or the line before it: most likely a quote left open,
// closed by the next quote in the file. Of a chain of such values, each
// ending where the next starts, it returns the first.
func (s *syntax) openQuote(i int) *token.Token {
	var q *token.Token
	line, slack := s.tokens[i].Position.Line, 1
	for j := i; j >= 0; j-- {
		t := s.tokens[j]
		if endLine(t) < line-slack {
			break
		}
		if (t.Type == token.DoubleQuoteType || t.Type == token.SingleQuoteType) && endLine(t) > t.Position.Line {
			q, line, slack = t, t.Position.Line, 0
		}
	}
	return q
}

// continuedKey explains a plain value that runs over lines and is followed
// by ':'. After "key:" it is a key indented deeper than the key above it
// (or that key's mapping is indented oddly); at the start of a line it is
// a key without its ':', which swallowed the next line.
func (s *syntax) continuedKey(i int) (*token.Position, string) {
	for _, j := range []int{i, i - 1} {
		if j < 0 || j+1 >= len(s.tokens) {
			continue
		}
		t := s.tokens[j]
		v := text(t)
		if t.Type != token.StringType || !strings.Contains(v, "\n") || s.tokens[j+1].Type != token.MappingValueType {
			continue
		}
		// At the start of a line, or as "- key value", a key missing its ':'.
		p := s.prev(j)
		first, _, _ := strings.Cut(v, "\n")
		if p < 0 || s.tokens[p].Position.Line != t.Position.Line || s.tokens[p].Type == token.SequenceEntryType && keyAndValue.MatchString(first) ||
			s.tokens[p].Type != token.MappingValueType && s.tokens[p].Type != token.SequenceEntryType {
			return t.Position, fmt.Sprintf("a key without its ':'? YAML reads this line and the next (line %d) as one key", endLine(t))
		}
		last := v[strings.LastIndexByte(v, '\n')+1:]
		// The origin keeps the last line's indentation; columns count
		// runes, as the lexer's do.
		col := len([]rune(last)) - len([]rune(strings.TrimLeft(last, " "))) + 1
		key := &token.Position{Line: endLine(t), Column: col}
		lv := s.levels(j)
		lv.closes(col, false)
		if pos, m := lv.suspect(col, key.Line, false); m != "" {
			return pos, m
		}
		return key, "this key is indented more than the line above it, so YAML reads it as more of that line's value: keys of one mapping line up"
	}
	return nil, ""
}

// openFlow returns the '[' or '{' left open at the end of its line, when
// the parser wants a ',' or the closing bracket on a later line, and the
// collection had been on one line until then.
func (s *syntax) openFlow(i int, msg string) *token.Token {
	p := s.prev(i)
	if !strings.Contains(msg, "must be specified") || p < 0 || s.tokens[i].Position.Line <= endLine(s.tokens[p]) {
		return nil
	}
	depth := 0
	for j := p; j >= 0; j-- {
		switch s.tokens[j].Type {
		case token.SequenceEndType, token.MappingEndType:
			depth++
		case token.SequenceStartType, token.MappingStartType:
			if depth > 0 {
				depth--
				continue
			}
			if s.tokens[j].Position.Line == endLine(s.tokens[p]) {
				return s.tokens[j]
			}
			return nil
		}
	}
	return nil
}

// blockLevel is an open block mapping or list: the column its keys or
// '-' entries start at.
type blockLevel struct {
	col, line int
	last      int  // the line of its latest entry
	list      bool // '-' entries, not keys
	entries   int  // keys or entries seen at col
	dash      bool // its first key follows "- " on its line, which fixes its column
}

// levels is the block structure open at a point of the file, and the
// file's usual indentation step.
type levels struct {
	stack  []blockLevel
	closed []blockLevel // the levels the last closes call ended, innermost first
	step   int
}

// closes pops the levels an entry at column c ends.
func (lv *levels) closes(c int, list bool) {
	lv.closed = nil
	for n := len(lv.stack); n > 0; n = len(lv.stack) {
		top := lv.stack[n-1]
		// A list may sit at its key's column; the next key ends it.
		if top.col > c || top.col == c && top.list && !list {
			lv.closed = append(lv.closed, top)
			lv.stack = lv.stack[:n-1]
			continue
		}
		return
	}
}

// walk feeds the entries of tokens[:end] that start their lines to lv,
// and returns how often each indentation below a parent occurs.
func (s *syntax) walk(lv *levels, end int) map[int]int {
	steps := map[int]int{}
	flow := 0
	for j := 0; j < end; j++ {
		t := s.tokens[j]
		switch t.Type {
		case token.CommentType:
			continue
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		}
		if flow > 0 || !s.startsLine(j) || !s.isEntry(j) {
			continue
		}
		c, list := t.Position.Column, t.Type == token.SequenceEntryType
		lv.closes(c, list)
		if n := len(lv.stack); n > 0 && lv.stack[n-1].col == c && lv.stack[n-1].list == list {
			lv.stack[n-1].entries++
			lv.stack[n-1].last = t.Position.Line
			continue
		}
		p := s.prev(j)
		dash := p >= 0 && s.tokens[p].Type == token.SequenceEntryType && s.tokens[p].Position.Line == t.Position.Line
		// The step is what keys are indented under keys; lists vary more.
		if n := len(lv.stack); n > 0 && !dash && !list && !lv.stack[n-1].list && c > lv.stack[n-1].col {
			steps[c-lv.stack[n-1].col]++
		}
		lv.stack = append(lv.stack, blockLevel{col: c, line: t.Position.Line, last: t.Position.Line, list: list, entries: 1, dash: dash})
	}
	return steps
}

// levels returns the block structure open before token end, with the
// indentation step the whole file uses most.
func (s *syntax) levels(end int) *levels {
	lv := &levels{step: 2}
	best := 0
	for st, n := range s.walk(&levels{}, len(s.tokens)) {
		if n > best || n == best && st < lv.step {
			lv.step, best = st, n
		}
	}
	s.walk(lv, end)
	return lv
}

// at is the level at index k of the stack with the closed levels put
// back on it, and of its parent; nil past either end.
func (lv *levels) at(k int) *blockLevel {
	n := len(lv.stack)
	switch {
	case k < 0:
		return nil
	case k < n:
		return &lv.stack[k]
	case k-n < len(lv.closed):
		return &lv.closed[len(lv.closed)-1-(k-n)]
	}
	return nil
}

// fits reports the columns an entry below the level at index p may take
// on the file's step: a key's, or a list's (also at its key's column).
func (lv *levels) fits(p int, col int, list bool) bool {
	parent := lv.at(p)
	if parent == nil {
		return col == 1
	}
	return col == parent.col+lv.step || list && !parent.list && col == parent.col
}

// suspect names an earlier line as the mistake when an entry at column c
// on line next fails to line up with the level it closes or continues:
// the first entry of that level, alone in it and off the file's
// indentation step while c is on it, is likelier wrong than the line
// that follows it. A key after "- " moves with its '-', so there the '-'
// is the suspect. Call it after closes.
func (lv *levels) suspect(c, next int, list bool) (*token.Position, string) {
	n := len(lv.stack)
	if l := lv.at(n); l != nil && n == 0 && l.col > 1 && (l.entries == 1 || c == 1) && !l.list {
		return &token.Position{Line: l.line, Column: l.col}, "the first key is indented: top-level keys start at column 1"
	}
	// The levels this entry may have been meant for: the outermost it
	// closes, and the one it stays inside.
	for _, k := range []int{n, n - 1} {
		l := lv.at(k)
		if l == nil || l.dash || l.entries != 1 || lv.fits(k-1, l.col, l.list) {
			continue
		}
		// This entry fits as the key's sibling, or as its child had the
		// key been on the step.
		want := 1
		if parent := lv.at(k - 1); parent != nil {
			want = parent.col + lv.step
		}
		child := !l.list && (c == want+lv.step || list && c == want)
		if !(l.list == list && lv.fits(k-1, c, list)) && !child {
			continue
		}
		what, of := "key", "mapping"
		if l.list {
			what, of = "'-'", "list"
		}
		if child {
			return &token.Position{Line: l.line, Column: l.col},
				fmt.Sprintf("this key is at column %d, off the %d-space indentation of the file: the entries below it (line %d) are at column %d", l.col, lv.step, next, c)
		}
		return &token.Position{Line: l.line, Column: l.col},
			fmt.Sprintf("this %s is at column %d, and the next %s of its %s (line %d) at column %d: entries of one %s line up", what, l.col, what, of, next, c, of)
	}
	// "- key:" with the '-' off the step: its keys moved with it.
	for j := n - 1; j < n+len(lv.closed) && !list; j++ {
		key, seq := lv.at(j), lv.at(j-1)
		if key == nil || seq == nil || !key.dash || key.entries != 1 || !seq.list || seq.entries != 1 || seq.dash {
			continue
		}
		if !lv.fits(j-2, seq.col, true) && lv.fits(j-2, seq.col+c-key.col, true) {
			return &token.Position{Line: seq.line, Column: seq.col},
				fmt.Sprintf("this '-' is at column %d, so its entry's keys start at column %d, and the next key of the entry (line %d) is at column %d: keys of one mapping line up", seq.col, key.col, next, c)
		}
	}
	return nil, ""
}

// misindented explains an error at a key or '-' that starts its line at a
// column no open mapping or list is at: this line is indented wrongly, or
// the first key of the mapping it was meant to continue is (suspect).
func (s *syntax) misindented(i int) (*token.Position, string) {
	if !s.startsLine(i) || !s.isEntry(i) {
		return nil, ""
	}
	lv := s.levels(i)
	at := s.tokens[i].Position
	c, list := at.Column, s.tokens[i].Type == token.SequenceEntryType
	lv.closes(c, list)
	n := len(lv.stack)
	if n > 0 && lv.stack[n-1].col == c && (lv.stack[n-1].list == list || list) {
		return nil, "" // lines up: the mistake is something else
	}
	if pos, m := lv.suspect(c, at.Line, list); m != "" {
		return pos, m
	}
	if len(lv.closed) > 0 {
		cl := lv.closed[len(lv.closed)-1]
		return at, fmt.Sprintf("this line is indented to column %d, which lines up with nothing above it: the entries it follows are at column %d (line %d)", c, cl.col, cl.last)
	}
	// Deeper than the entry above, which takes no more: that entry's value
	// is written on a line of its own, likely a key without its ':'.
	if p := s.prev(i); p >= 0 && s.startsLine(p) && !s.isEntry(p) {
		return s.tokens[p].Position, fmt.Sprintf("a key without its ':'? YAML reads this line as a value, so the entries below it (line %d) have nowhere to go", at.Line)
	}
	if n > 0 {
		return at, fmt.Sprintf("this line is indented more than the entry above it (line %d), whose value is already given", lv.stack[n-1].last)
	}
	return nil, ""
}
