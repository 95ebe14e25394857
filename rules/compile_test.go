package rules

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEnvFieldNames holds the loyalty types to the naming rule of
// conditions: every field a condition can reach has a snake_case expr tag
// (the JSON name, for the swipe schema's types) or is hidden with "-", so a
// field added without a tag cannot leak its Go name into the rule language.
func TestEnvFieldNames(t *testing.T) {
	var got []string
	for name := range envStructs {
		got = append(got, name)
	}
	slices.Sort(got)
	want := []string{"loyalty.CategoryStats", "loyalty.Item", "loyalty.Profile", "loyalty.SKUStats", "loyalty.StoreVisits", "loyalty.Swipe"}
	if !slices.Equal(got, want) {
		t.Errorf("types reachable from conditions = %v, want %v", got, want)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for name, typ := range envStructs {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := f.Tag.Get("expr")
			if !f.IsExported() || tag == "-" {
				continue
			}
			if !snake.MatchString(tag) {
				t.Errorf("%s.%s: expr tag %q, want a snake_case name or \"-\"", name, f.Name, tag)
			}
			if js, _, _ := strings.Cut(f.Tag.Get("json"), ","); js != "" && js != tag {
				t.Errorf("%s.%s: expr tag %q differs from json name %q", name, f.Name, tag, js)
			}
		}
	}
}

func TestFieldHint(t *testing.T) {
	for msg, want := range map[string]string{
		"type loyalty.Swipe has no field StoreID":  "type loyalty.Swipe has no field StoreID; did you mean store_id?",
		"type loyalty.Swipe has no field TS":       "type loyalty.Swipe has no field TS; did you mean ts?",
		"type loyalty.Item has no field Qty":       "type loyalty.Item has no field Qty; did you mean qty?",
		"type loyalty.Profile has no field SKUs":   "type loyalty.Profile has no field SKUs; did you mean skus?",
		"type loyalty.SKUStats has no field price": "type loyalty.SKUStats has no field price; fields are sku, units, last_bought",
		"type loyalty.Profile has no field TooOld": "type loyalty.Profile has no field TooOld (it is internal bookkeeping, not visible to rules)",
		// Types outside the environment and other messages are left alone.
		"type time.Time has no field Hour": "type time.Time has no field Hour",
		"unknown name basket":              "unknown name basket",
	} {
		if got := fieldHint(msg); got != want {
			t.Errorf("fieldHint(%q)\n = %q\nwant %q", msg, got, want)
		}
	}
	// Hidden fields are hidden from expr itself, whatever the spelling.
	for _, src := range []string{`profile.Days`, `profile.days`, `profile.RecentSwipes`, `profile.newest_day`} {
		if _, _, err := compileExpr(src); err == nil {
			t.Errorf("%s compiled", src)
		}
	}
}
