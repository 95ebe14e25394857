package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aislecast/loyalty"
	"go.yaml.in/yaml/v3"
)

// DefaultExpiresIn is how long an offer is valid when the rule says nothing.
const DefaultExpiresIn = 24 * time.Hour

// MaxVersion is the highest rule version: far more edits than a rule will
// see, and low enough that offerctl apply's next version never overflows.
const MaxVersion = 1<<31 - 1

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// The fields each mapping of a rule file may hold, in documentation order.
var (
	ruleFields     = []string{"id", "version", "priority", "group", "when", "channels", "offer", "limits", "schedule", "holdout"}
	offerFields    = []string{"title", "body", "coupon", "expires_in"}
	couponFields   = []string{"discount_percent", "discount_cents", "skus", "categories"}
	limitsFields   = []string{"cooldown", "max_per_card", "budget"}
	capFields      = []string{"count", "per"}
	budgetFields   = []string{"count", "discount_cents"}
	scheduleFields = []string{"from", "until", "hours", "days"}
)

// Parse reads and compiles the rules of one file. A file holds one rule or
// several YAML documents separated by "---"; empty documents are skipped.
// filename is used only in error positions. The error, if any, is an
// ErrorList with every problem found in the file.
func Parse(filename string, data []byte) ([]*Rule, error) {
	p := &parser{file: filename, lines: strings.Split(string(data), "\n")}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var rules []*Rule
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.yamlError(data, err)
			break
		}
		if len(doc.Content) == 0 {
			continue
		}
		n := resolve(doc.Content[0])
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			continue
		}
		if r := p.rule(n); r != nil {
			rules = append(rules, r)
		}
	}
	if err := p.errs.err(); err != nil {
		return nil, err
	}
	return rules, nil
}

// parser collects the errors of one file.
type parser struct {
	file    string
	lines   []string // the file's lines, to locate expressions inside scalars
	errs    ErrorList
	untried []untriedTemplate // the templates of the rule being read
}

func (p *parser) errorf(n *yaml.Node, id, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, RuleID: id, Msg: fmt.Sprintf(format, args...)})
}

var (
	yamlLine    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlNoLine  = regexp.MustCompile(`^yaml: (.*)$`)
	yamlParsers = map[string]bool{ // the problems yaml.v3's parser, not its scanner, finds
		"did not find expected <stream-start>":   true,
		"did not find expected <document start>": true,
		"did not find expected key":              true,
		"did not find expected node content":     true,
		"did not find expected '-' indicator":    true,
		"did not find expected ',' or ']'":       true,
		"did not find expected ',' or '}'":       true,
		"found duplicate %YAML directive":        true,
		"found duplicate %TAG directive":         true,
		"found incompatible YAML document":       true,
		"found undefined tag handle":             true,
	}
)

// yamlError records a YAML syntax error of data.
func (p *parser) yamlError(data []byte, err error) {
	p.errs = append(p.errs, YAMLError(p.file, data, err))
}

// YAMLError locates a YAML syntax error of file, whose text is data. The
// decoder reports most with a line but no column: they are put at column
// 1 of their line. It counts the lines of its scanner's errors from 1 but
// those of its parser's from 0, and leaves the line out when it counts 0,
// so a parser error is moved down a line, or put on line 1 when it has
// none. It reports a character YAML does not allow (bytes that are not
// UTF-8, a control character) with neither: that is found in data.
func YAMLError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: err.Error()}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		if yamlParsers[m[2]] {
			e.Line++
		}
		e.Col = 1
		e.Msg = "invalid YAML: " + m[2]
	} else if m := yamlNoLine.FindStringSubmatch(err.Error()); m != nil && yamlParsers[m[1]] {
		e.Line, e.Col = 1, 1
		e.Msg = "invalid YAML: " + m[1]
	} else if line, col, what, ok := badChar(data); ok {
		e.Line, e.Col = line, col
		e.Msg = "invalid YAML: " + what
	}
	return e
}

// badChar finds the first character of data that YAML does not allow, and
// returns its line and column (in characters, from 1) and what it is.
func badChar(data []byte) (line, col int, what string, ok bool) {
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return line, col, fmt.Sprintf("byte %#02x is not UTF-8", data[i]), true
		case r == '\n':
			line, col = line+1, 0
		case r == '\t' || r == '\r' || r == 0x85 || r == 0xFEFF:
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0xfffe || r == 0xffff:
			return line, col, fmt.Sprintf("control character %U", r), true
		}
		i += size
		col++
	}
	return 0, 0, "", false
}

// resolve follows aliases, so that anchors may be used to share pieces.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// fields returns the values of mapping m by key, reporting keys that are not
// in known and keys given twice.
func (p *parser) fields(m *yaml.Node, id, what string, known []string) map[string]*yaml.Node {
	if m.Kind != yaml.MappingNode {
		p.errorf(m, id, "%s must be a mapping with fields %s", what, strings.Join(known, ", "))
		return nil
	}
	out := make(map[string]*yaml.Node, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], resolve(m.Content[i+1])
		switch {
		case !contains(known, k.Value):
			p.errorf(k, id, "unknown field %s; known fields: %s", k.Value, strings.Join(known, ", "))
		case out[k.Value] != nil:
			p.errorf(k, id, "field %s given twice", k.Value)
		default:
			out[k.Value] = v
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// rule decodes, validates and compiles one rule document. It returns nil
// when the rule has no usable id; other problems are recorded and the rule
// returned so that its remaining fields are still checked.
func (p *parser) rule(m *yaml.Node) *Rule {
	f := p.fields(m, validID(m), "a rule", ruleFields)
	if f == nil {
		return nil
	}
	r := &Rule{Version: 1, ExpiresIn: DefaultExpiresIn, File: p.file, Line: m.Line}
	if n := f["id"]; n == nil {
		p.errorf(m, "", "missing required field id")
		return nil
	} else if !idPattern.MatchString(n.Value) || n.Kind != yaml.ScalarNode {
		p.errorf(n, "", "invalid id %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", n.Value)
		return nil
	} else {
		r.ID = n.Value
	}
	id := r.ID
	if n := f["version"]; n != nil {
		if v, ok := p.int(n, id, "version"); ok {
			if v < 1 || v > MaxVersion {
				p.errorf(n, id, "version must be from 1 to %d, not %d", MaxVersion, v)
			}
			r.Version = int(v)
		}
	}
	if n := f["priority"]; n != nil {
		if v, ok := p.int(n, id, "priority"); ok {
			r.Priority = int(v)
		}
	}
	if n := f["group"]; n != nil {
		if !idPattern.MatchString(n.Value) || n.Kind != yaml.ScalarNode {
			p.errorf(n, id, "invalid group %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", n.Value)
		} else {
			r.Group = n.Value
		}
	}
	if n := f["when"]; n == nil || isNull(n) {
		p.errorf(m, id, "missing required field when (the condition, e.g. when: swipe.kind == \"checkin\")")
	} else if s, ok := p.str(n, id, "when"); ok {
		r.When = s
		p.compileWhen(r, n)
	}
	if n := f["channels"]; n == nil {
		p.errorf(m, id, "missing required field channels (a list of %s)", strings.Join(loyalty.Channels, ", "))
	} else {
		r.Channels = p.channels(n, id)
	}
	if n := f["offer"]; n == nil {
		p.errorf(m, id, "missing required field offer (with title, body, coupon, expires_in)")
	} else {
		p.offer(r, n)
	}
	if n := f["limits"]; n != nil {
		r.Limits = p.limits(n, id, r.Coupon)
	}
	if n := f["schedule"]; n != nil {
		r.Schedule = p.schedule(n, id)
	}
	if n := f["holdout"]; n != nil {
		r.Holdout = p.holdout(n, id)
	}
	p.tryTemplates(r)
	return r
}

// validID returns the id of rule mapping m if it is valid, so that errors
// found before the id is checked can still name the rule.
func validID(m *yaml.Node) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if v := resolve(m.Content[i+1]); m.Content[i].Value == "id" && v.Kind == yaml.ScalarNode && idPattern.MatchString(v.Value) {
			return v.Value
		}
	}
	return ""
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// str returns the text of a scalar; any scalar will do, since YAML would
// otherwise turn a title such as "2024" into a number.
func (p *parser) str(n *yaml.Node, id, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, id, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

func (p *parser) int(n *yaml.Node, id, what string) (int64, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		if v, err := strconv.ParseInt(n.Value, 0, 64); err == nil {
			return v, true
		}
	}
	p.errorf(n, id, "%s must be an integer, not %q", what, n.Value)
	return 0, false
}

func (p *parser) strings(n *yaml.Node, id, what string) []string {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, id, "%s must be a list, e.g. [a, b]", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if s, ok := p.str(resolve(c), id, what+" entry"); ok {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) channels(n *yaml.Node, id string) []string {
	list := p.strings(n, id, "channels")
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		p.errorf(n, id, "channels must name at least one of %s", strings.Join(loyalty.Channels, ", "))
	}
	for i, c := range list {
		switch {
		case !loyalty.ValidChannel(c):
			p.errorf(n.Content[i], id, "unknown channel %q; channels are %s", c, strings.Join(loyalty.Channels, ", "))
		case contains(list[:i], c):
			p.errorf(n.Content[i], id, "channel %s listed twice", c)
		}
	}
	return list
}

func (p *parser) offer(r *Rule, n *yaml.Node) {
	id := r.ID
	f := p.fields(n, id, "offer", offerFields)
	if f == nil {
		return
	}
	if t := f["title"]; t == nil || isNull(t) || t.Value == "" {
		p.errorf(n, id, "missing required field offer.title")
	} else if s, ok := p.str(t, id, "offer.title"); ok {
		r.Title = s
		r.title = p.template(r, t, "title", s)
	}
	if b := f["body"]; b != nil && !isNull(b) {
		if s, ok := p.str(b, id, "offer.body"); ok {
			r.Body = s
			r.body = p.template(r, b, "body", s)
		}
	}
	if c := f["coupon"]; c != nil {
		r.Coupon = p.coupon(c, id)
	}
	if e := f["expires_in"]; e != nil {
		if d, ok := p.duration(e, id, "offer.expires_in"); ok {
			r.ExpiresIn = d
		}
	}
}

func (p *parser) coupon(n *yaml.Node, id string) Coupon {
	var c Coupon
	f := p.fields(n, id, "offer.coupon", couponFields)
	if f == nil {
		return c
	}
	pct, cents := f["discount_percent"], f["discount_cents"]
	switch {
	case pct == nil && cents == nil:
		p.errorf(n, id, "coupon needs discount_percent (1 to 100) or discount_cents (more than 0)")
	case pct != nil && cents != nil:
		p.errorf(cents, id, "coupon has both discount_percent and discount_cents; give only one")
	case pct != nil:
		if v, ok := p.int(pct, id, "discount_percent"); ok {
			if v < 1 || v > 100 {
				p.errorf(pct, id, "discount_percent must be 1 to 100, not %d", v)
			}
			c.DiscountPercent = int(v)
		}
	default:
		if v, ok := p.int(cents, id, "discount_cents"); ok {
			if v < 1 {
				p.errorf(cents, id, "discount_cents must be more than 0, not %d", v)
			}
			c.DiscountCents = v
		}
	}
	if s := f["skus"]; s != nil {
		c.SKUs = p.strings(s, id, "skus")
	}
	if s := f["categories"]; s != nil {
		c.Categories = p.strings(s, id, "categories")
	}
	return c
}

// ParseDuration reads a duration as rule files write them, so that tools
// take the same "7d", "4h" or "1d12h" as rules do.
func ParseDuration(s string) (time.Duration, error) { return parseDuration(s) }

// maxDurationDays is the most days a duration may span: the whole days a
// time.Duration holds. A longer one would wrap around, and "213504d" be
// 25 minutes.
const maxDurationDays = math.MaxInt64 / int64(24*time.Hour)

// errLongDuration is the error of a duration longer than maxDurationDays.
var errLongDuration = fmt.Errorf("duration longer than %dd", maxDurationDays)

// parseDuration reads a Go duration with an optional leading day count:
// "7d", "4h", "1d12h", "90m".
func parseDuration(s string) (time.Duration, error) {
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) && n > 0, err == nil && n > maxDurationDays:
			return 0, errLongDuration
		case err != nil || n < 0:
			return 0, fmt.Errorf("bad day count %q", s[:i])
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d > time.Duration(maxDurationDays)*24*time.Hour-days {
		return 0, errLongDuration
	}
	return days + d, nil
}

// duration reads a positive duration such as "7d" or "4h".
func (p *parser) duration(n *yaml.Node, id, what string) (time.Duration, bool) {
	d, err := parseDuration(n.Value)
	if n.Kind == yaml.ScalarNode && errors.Is(err, errLongDuration) {
		p.errorf(n, id, "%s must be at most %dd, not %q", what, maxDurationDays, n.Value)
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || err != nil || d <= 0 {
		p.errorf(n, id, "%s must be a positive duration such as 7d, 4h or 30m, not %q", what, n.Value)
		return 0, false
	}
	return d, true
}

// limits reads a rule's limits; coupon is the rule's, already read, since a
// money budget needs a coupon that spends money.
func (p *parser) limits(n *yaml.Node, id string, coupon Coupon) *Limits {
	f := p.fields(n, id, "limits", limitsFields)
	if f == nil {
		return nil
	}
	l := &Limits{}
	if c := f["cooldown"]; c != nil {
		l.Cooldown, _ = p.duration(c, id, "limits.cooldown")
	}
	if c := f["max_per_card"]; c != nil {
		if g := p.fields(c, id, "limits.max_per_card", capFields); g != nil {
			l.MaxPerCard = &Cap{}
			if n := g["count"]; n == nil {
				p.errorf(c, id, "limits.max_per_card needs count")
			} else {
				l.MaxPerCard.Count = int(p.positive(n, id, "limits.max_per_card.count"))
				if l.MaxPerCard.Count > loyalty.MaxOfferSends {
					p.errorf(n, id, "limits.max_per_card.count must be at most %d (the sends a profile remembers), not %d", loyalty.MaxOfferSends, l.MaxPerCard.Count)
				}
			}
			if n := g["per"]; n == nil {
				p.errorf(c, id, "limits.max_per_card needs per (a period such as 30d)")
			} else {
				l.MaxPerCard.Per, _ = p.duration(n, id, "limits.max_per_card.per")
			}
		}
	}
	if b := f["budget"]; b != nil {
		if g := p.fields(b, id, "limits.budget", budgetFields); g != nil {
			if g["count"] == nil && g["discount_cents"] == nil {
				p.errorf(b, id, "limits.budget needs count (offers) or discount_cents (money), or both")
			}
			if n := g["count"]; n != nil {
				l.Budget = p.positive(n, id, "limits.budget.count")
			}
			if n := g["discount_cents"]; n != nil {
				l.BudgetCents = p.positive(n, id, "limits.budget.discount_cents")
				if coupon.DiscountCents == 0 && coupon.DiscountPercent == 0 {
					p.errorf(n, id, "limits.budget.discount_cents needs an offer.coupon with a discount: an offer without one spends no money; use limits.budget.count")
				}
			}
		}
	}
	return l
}

func (p *parser) positive(n *yaml.Node, id, what string) int64 {
	v, ok := p.int(n, id, what)
	if ok && v < 1 {
		p.errorf(n, id, "%s must be at least 1, not %d", what, v)
	}
	return v
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

var hoursPattern = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$`)

// ParseHours reads a daily window of local time such as "08:00-21:00" as
// minutes after midnight, from inclusive and until exclusive. An end
// before the start runs past midnight ("22:00-02:00"); "24:00" may end a
// window. Schedules and the engine's quiet hours share it.
func ParseHours(s string) (from, until int, err error) {
	m := hoursPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("must look like \"08:00-21:00\", not %q", s)
	}
	at := func(hh, mm string) int { a, _ := strconv.Atoi(hh); b, _ := strconv.Atoi(mm); return a*60 + b }
	from, until = at(m[1], m[2]), at(m[3], m[4])
	if until > 24*60 {
		return 0, 0, fmt.Errorf("ends after 24:00 in %q", s)
	}
	if from == until {
		return 0, 0, fmt.Errorf("%q is empty: give different start and end times (an end before the start runs past midnight)", s)
	}
	return from, until, nil
}

// InHours reports whether minute m after local midnight falls within the
// window from-until of ParseHours.
func InHours(m, from, until int) bool {
	if from < until {
		return m >= from && m < until
	}
	return m >= from || m < until // past midnight, e.g. 22:00-02:00
}

func (p *parser) schedule(n *yaml.Node, id string) *Schedule {
	f := p.fields(n, id, "schedule", scheduleFields)
	if f == nil {
		return nil
	}
	s := &Schedule{}
	date := func(key string) (int32, bool) {
		d := f[key]
		if d == nil {
			return 0, false
		}
		t, err := time.Parse(time.DateOnly, d.Value)
		if err != nil {
			p.errorf(d, id, "schedule.%s must be a date such as 2026-12-01, not %q", key, d.Value)
			return 0, false
		}
		return loyalty.DayOf(t), true
	}
	s.From, s.HasFrom = date("from")
	s.Until, s.HasUntil = date("until")
	if s.HasFrom && s.HasUntil && s.Until < s.From {
		p.errorf(f["until"], id, "schedule.until is before schedule.from")
	}
	if h := f["hours"]; h != nil {
		var err error
		if s.FromMinute, s.UntilMinute, err = ParseHours(h.Value); err != nil {
			p.errorf(h, id, "schedule.hours %v", err)
		} else {
			s.HasHours = true
		}
	}
	if d := f["days"]; d != nil {
		for i, name := range p.strings(d, id, "schedule.days") {
			wd, ok := weekdays[strings.ToLower(name)]
			if !ok {
				p.errorf(d.Content[i], id, "unknown day %q; days are mon, tue, wed, thu, fri, sat, sun", name)
				continue
			}
			s.Days = append(s.Days, wd)
		}
	}
	return s
}

// holdout reads a percentage such as "10%" as a fraction.
func (p *parser) holdout(n *yaml.Node, id string) float64 {
	s, ok := strings.CutSuffix(strings.TrimSpace(n.Value), "%")
	v, err := strconv.ParseFloat(s, 64)
	if n.Kind != yaml.ScalarNode || !ok || err != nil || math.IsNaN(v) || v < 0 || v >= 100 {
		p.errorf(n, id, "holdout must be a percentage from 0%% to below 100%%, such as 10%%, not %q", n.Value)
		return 0
	}
	return v / 100
}
