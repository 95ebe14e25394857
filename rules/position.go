package rules

import (
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// scalarPos maps a position inside the value of scalar n (1-based line,
// 0-based column, as expr reports them) to a line and column of the file.
//
// YAML may have folded, unescaped or re-indented the value, so the value is
// walked again over the raw lines: a single-line plain or quoted scalar maps
// exactly (escapes included), as does a literal block (|); multi-line plain,
// quoted and folded (>) scalars map exactly unless they contain blank lines
// or escaped line breaks.
func (p *parser) scalarPos(n *yaml.Node, value string, line, col int) (int, int) {
	off := 0
	for i, l := range strings.Split(value, "\n") {
		if i == line-1 {
			off += col
			break
		}
		off += utf8.RuneCountInString(l) + 1
	}
	var segs []segment
	var quote byte
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		segs = p.blockSegments(n)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		quote = '"'
		if n.Style == yaml.SingleQuotedStyle {
			quote = '\''
		}
		segs = p.flowSegments(n, 1)
	default:
		segs = p.flowSegments(n, 0)
	}
	if l, c, ok := walk(segs, off, quote); ok {
		return l, c
	}
	return n.Line, n.Column
}

// segment is the part of one file line that holds value text.
type segment struct {
	line, col int // 1-based position of text in the file
	text      string
}

// flowSegments returns the lines of a plain or quoted scalar: the rest of
// its first line after skip characters (the quote), then each following
// non-blank line without its indentation. The walk stops long before a
// segment beyond the scalar matters.
func (p *parser) flowSegments(n *yaml.Node, skip int) []segment {
	if n.Line < 1 || n.Line > len(p.lines) {
		return nil
	}
	first := p.line(n.Line)
	start := n.Column - 1 + skip
	if start > utf8.RuneCountInString(first) {
		return nil
	}
	segs := []segment{{n.Line, start + 1, string([]rune(first)[start:])}}
	for i := n.Line + 1; i <= len(p.lines); i++ {
		l := p.line(i)
		t := strings.TrimLeft(l, " \t")
		if t == "" {
			continue
		}
		segs = append(segs, segment{i, len(l) - len(t) + 1, t})
	}
	return segs
}

// blockSegments returns the content lines of a literal or folded block
// scalar, which start on the line after the indicator (n.Line). Folded
// blocks join lines with a space, literal ones with a newline: either way
// one character, so only blank lines of folded blocks need skipping.
func (p *parser) blockSegments(n *yaml.Node) []segment {
	indent := -1
	var segs []segment
	for i := n.Line + 1; i <= len(p.lines); i++ {
		l := p.line(i)
		t := strings.TrimLeft(l, " ")
		if t == "" {
			if n.Style == yaml.LiteralStyle && indent >= 0 {
				segs = append(segs, segment{i, indent + 1, ""})
			}
			continue
		}
		if indent < 0 {
			indent = len(l) - len(t)
		}
		if len(l)-len(t) < indent {
			break
		}
		segs = append(segs, segment{i, indent + 1, l[indent:]})
	}
	return segs
}

func (p *parser) line(i int) string { return strings.TrimSuffix(p.lines[i-1], "\r") }

// walk finds the off-th character of the value spread over segs. quote is
// the scalar's quote character, whose escapes take several columns for one
// character of the value.
func walk(segs []segment, off int, quote byte) (line, col int, ok bool) {
	for _, s := range segs {
		col, t := s.col, s.text
		for t != "" {
			if off == 0 {
				return s.line, col, true
			}
			w := escapeLen(t, quote)
			col += utf8.RuneCountInString(t[:w])
			t = t[w:]
			off--
		}
		if off == 0 {
			return s.line, col, true
		}
		off-- // the space or newline that joins segments
	}
	return 0, 0, false
}

// escapeLen is the length in bytes of the raw text at the start of t that
// stands for one character of the value.
func escapeLen(t string, quote byte) int {
	switch {
	case quote == '\'' && strings.HasPrefix(t, "''"):
		return 2
	case quote == '"' && t[0] == '\\' && len(t) > 1:
		n := 2
		switch t[1] {
		case 'x':
			n = 4
		case 'u':
			n = 6
		case 'U':
			n = 10
		}
		return min(n, len(t))
	}
	_, w := utf8.DecodeRuneInString(t)
	return w
}
