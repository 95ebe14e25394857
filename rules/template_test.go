package rules

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/aislecast/loyalty"
)

// TestOfferTextFastPath: templates of literal text and plain fields render
// by appending, everything else through text/template, and either way the
// text (or the error) is what text/template gives for the same data,
// including fields behind nil pointers, unicode, negative numbers, and
// types that print through a method.
func TestOfferTextFastPath(t *testing.T) {
	for _, tt := range []struct {
		src  string
		fast bool
	}{
		{"Offer 12 for {{ .Swipe.CardID }}", true},
		{"Running low on coffee?", true},
		{"{{/* a comment */}}just text", true},
		{"{{ .Swipe.TotalCents }} cents, kind {{ .Swipe.Kind }}, v{{ .Rule.Version }}, visits {{ .Profile.Visits }}, {{ .Profile.NewestDay }}", true},
		{"  {{- .Swipe.StoreID -}}  trimmed  {{ .Swipe.Aisle }}.", true},
		{"{{ .Rule.Schedule.HasFrom }} {{ .Rule.Limits.Budget }} {{ .Rule.Limits.MaxPerCard.Count }}", true},
		{"{{ .Swipe.TS }}", false},       // time.Time prints through its String method
		{"{{ .Rule.Holdout }}", false},   // floats print as fmt does
		{"{{ .Rule.ExpiresIn }}", false}, // a Duration's String
		{"{{ cents .Swipe.TotalCents }}", false},
		{`{{ .Swipe.Aisle | default "any" }}`, false},
		{"{{ if .Swipe.Aisle }}aisle {{ .Swipe.Aisle }}{{ end }}", false},
		{"{{ $c := .Swipe.CardID }}{{ $c }}", false},
		{"{{ .Swipe.Items }}", false},
		{"{{ .Profile }}", false},
		{"{{ . }}", false},
		{"{{ .Swipe.Kind.Valid }}", false},
		{`{{ define "x" }}y{{ end }}{{ .Swipe.CardID }}`, false},
	} {
		tmpl, err := template.New("t").Funcs(templateFuncs).Option("missingkey=error").Parse(tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		o := newOfferText(tmpl)
		if fast := o.parts != nil; fast != tt.fast {
			t.Errorf("%s: fast path %v, want %v", tt.src, fast, tt.fast)
		}
		for i, d := range templateData() {
			var want bytes.Buffer
			wantErr := tmpl.Execute(&want, d)
			got, err := o.render(d.Swipe, d.Profile, d.Rule)
			if (err != nil) != (wantErr != nil) || err == nil && got != want.String() {
				t.Errorf("%s, data %d: render %q, %v; text/template %q, %v", tt.src, i, got, err, want.String(), wantErr)
			}
			if b, ok := o.appendParts(nil, d.Swipe, d.Profile, d.Rule); o.parts != nil && ok && string(b) != want.String() {
				t.Errorf("%s, data %d: fast path %q, text/template %q", tt.src, i, b, want.String())
			}
		}
	}
}

// TestTemplateSeesRuleLimitsAndSchedule: a template may show the rule's
// limits and schedule, which the rule file gives after the offer.
func TestTemplateSeesRuleLimitsAndSchedule(t *testing.T) {
	for _, src := range []string{
		"id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: 'Only {{ .Rule.Limits.Budget }} coupons'\nlimits: {budget: {count: 500}}\n",
		"id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: 'At most {{ .Rule.Limits.MaxPerCard.Count }} per month'\nlimits: {max_per_card: {count: 2, per: 30d}}\n",
		"id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: T\n  body: 'Store hours only: {{ .Rule.Schedule.HasHours }}'\nschedule: {hours: \"08:00-21:00\"}\n",
	} {
		rs, err := Parse("f.yaml", []byte(src))
		if err != nil {
			t.Errorf("%v\n(rule:\n%s)", err, src)
			continue
		}
		d := sampleData(rs[0])
		if _, _, err := rs[0].Render(d.Swipe, d.Profile); err != nil {
			t.Errorf("Render: %v", err)
		}
	}
}

// TestTemplateCannotCallProfileMethods: text/template calls the methods
// a field chain names, on the live profile, so an offer text may not name
// a method of a type of this project by any route; it may name fields and
// read the methods of time values.
func TestTemplateCannotCallProfileMethods(t *testing.T) {
	for _, src := range []string{
		`{{ .Profile.AddOffered "x" }}`,
		`{{ $p := .Profile }}{{ $p.AddOffered "x" }}`,
		`{{ with .Profile }}{{ .AddOffered "x" }}{{ end }}`,
		`{{ $.Profile.AddOffered "x" }}`,
		`{{ (.Profile).AddOffered "x" }}`,
		`{{ "x" | .Profile.AddOffered }}`,
		`{{ range .Profile.Categories }}{{ .RepurchaseDays }}{{ end }}`,
		`{{ (index .Profile.Categories 0).RepurchaseDays }}`,
		`{{ (.Profile | default .Swipe).AddOffered "x" }}`,
		`{{ $p := 0 }}{{ range .Swipe.Items }}{{ if $p }}{{ $p.AddOffered "x" }}{{ end }}{{ $p = $.Profile }}{{ end }}`,
		`{{ define "p" }}{{ .AddOffered "x" }}{{ end }}{{ template "p" .Profile }}`,
		`{{ .Swipe.TS.UnmarshalBinary (.Swipe.TS.AddDate 1 0 0).MarshalBinary }}`,
		`{{ .Rule.FiresOn "checkin" }}`,
		`{{ .Swipe.Kind.Valid }}`,
	} {
		rs, err := Parse("f.yaml", []byte("id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: '"+src+"'\n"))
		if err == nil {
			s := purchase("p", at(10, 9, 0), item("a", "coffee", 100), item("b", "tea", 100))
			p := loyalty.NewProfile("card-1")
			p.Apply(s)
			rs[0].Render(s, p)
			t.Errorf("%s loaded; rendering it left the card's offers %+v and the swipe's time %v", src, p.Offers, s.TS)
			continue
		}
		if !strings.Contains(err.Error(), "not available in offer texts") && !strings.Contains(err.Error(), "known only when the text is rendered") {
			t.Errorf("%s: %v; want a refusal", src, err)
		}
	}
	for _, src := range []string{
		`{{ .Profile.CardID }} {{ .Swipe.TS.Format "Jan 2" }} {{ .Swipe.TS.Weekday }} {{ .Rule.ExpiresIn.Hours }}`,
		`{{ range $i, $it := .Swipe.Items }}{{ $i }} {{ $it.SKU }}{{ end }}`,
		`{{ with index .Swipe.Items 0 }}{{ .SKU }}{{ end }} {{ (index .Profile.Categories 0).Name }}`,
		`{{ define "sku" }}{{ .SKU }}{{ end }}{{ template "sku" index .Swipe.Items 0 }}`,
	} {
		if _, err := Parse("f.yaml", []byte("id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: '"+src+"'\n")); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// templateData is data for TestOfferTextFastPath: a full swipe, profile
// and rule; one with odd values; and ones with nil pointers on the way to
// fields.
func templateData() []*TemplateData {
	full := sampleData(&Rule{ID: "r", Version: 3, Holdout: 0.1, ExpiresIn: 4 * time.Hour,
		Schedule: &Schedule{HasFrom: true}, Limits: &Limits{Budget: 500, MaxPerCard: &Cap{Count: 2}}})
	odd := sampleData(&Rule{ID: "r", Version: -1, Limits: &Limits{Budget: -5, MaxPerCard: &Cap{}}, Schedule: &Schedule{}})
	odd.Swipe.CardID, odd.Swipe.StoreID, odd.Swipe.Aisle = "Zoë <&> \"q\" 日本 🎉", "", "\n\t\x00"
	odd.Swipe.TotalCents, odd.Profile.Visits, odd.Profile.NewestDay = -1234, 0, -1
	noProfile := sampleData(full.Rule)
	noProfile.Profile = nil
	noLimits := sampleData(&Rule{ID: "r", Schedule: &Schedule{}, Limits: &Limits{}})
	return []*TemplateData{full, odd, noProfile, noLimits, {Rule: full.Rule}}
}

func BenchmarkRender(b *testing.B) {
	for _, src := range []string{"Offer 12 for {{ .Swipe.CardID }}", "Thanks!", `Offer for {{ .Swipe.CardID | default "you" }}`} {
		tmpl := template.Must(template.New("t").Funcs(templateFuncs).Option("missingkey=error").Parse(src))
		r := &Rule{ID: "r", title: newOfferText(tmpl)}
		d := sampleData(r)
		b.Run(fmt.Sprintf("%q", src), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Render(d.Swipe, d.Profile); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An offer text that renders past MaxOfferText for a swipe fails for that
// swipe, and stops rendering there; the same text renders for a swipe on
// which it stays short.
func TestOfferTextTooLong(t *testing.T) {
	set := mustSet(t, "id: r\nwhen: 'true'\nchannels: [pos]\noffer:\n  title: T\n  body: '{{ range .Swipe.TotalCents }}x{{ end }}'\n")
	r := set.Rules()[0]
	p := loyalty.NewProfile("card-1")
	if _, body, err := r.Render(purchase("small", at(10, 9, 0), item("a", "c", 300)), p); err != nil || len(body) != 300 {
		t.Fatalf("a 300-cent basket: body of %d bytes, %v", len(body), err)
	}
	big := purchase("big", at(10, 9, 0), item("a", "c", 10_000_000))
	if _, body, err := r.Render(big, p); err == nil || !strings.Contains(err.Error(), "renders longer than") {
		t.Fatalf("a 100,000.00 basket: body of %d bytes, %v; want an error", len(body), err)
	}
}
