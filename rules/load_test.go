package rules

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

const okRule = "id: %s\nwhen: \"true\"\nchannels: [pos]\noffer: {title: T}\n"

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadPaths(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml":       fmt.Sprintf(okRule, "a"),
		"b.yml":        fmt.Sprintf(okRule, "b") + "---\n" + fmt.Sprintf(okRule, "c"),
		"notes.txt":    "not a rule",
		"sub/d.yaml":   fmt.Sprintf(okRule, "a"), // not read: directories are not recursive
		"single/e.yml": fmt.Sprintf(okRule, "e"),
	})
	set, err := LoadPaths(dir, filepath.Join(dir, "single", "e.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(set.Rules()); got != "a b c e" {
		t.Errorf("rules = %s, want a b c e", got)
	}
}

func TestLoadPathsErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.yaml": fmt.Sprintf(okRule, "dup"),
		"b.yaml": "id: bad\nwhen: \"true\"\nchannels: [fax]\noffer: {title: T}\n",
		"c.yaml": "# the same id again\n" + fmt.Sprintf(okRule, "dup"),
	})
	t.Chdir(dir)
	_, err := LoadPaths(".", "missing.yaml")
	want := "b.yaml:3:12: rule bad: unknown channel \"fax\"; channels are mobile, pos, email\n" +
		"c.yaml:2:1: rule dup: duplicate id: also defined at a.yaml:1\n" +
		"missing.yaml: no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestExamplesCompile(t *testing.T) {
	set, err := LoadPaths("examples")
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() < 3 {
		t.Errorf("%d example rules, want at least 3", set.Len())
	}
	aisle := false
	for _, r := range set.Rules() {
		for _, k := range r.kinds {
			aisle = aisle || k == loyalty.KindScan || k == loyalty.KindCheckin
		}
		if _, _, err := r.Render(sampleData(r).Swipe, sampleData(r).Profile); err != nil {
			t.Errorf("rule %s: %v", r.ID, err)
		}
	}
	if !aisle {
		t.Error("no example is triggered by a scan or a check-in")
	}
}

// TestExamplesFire plays two months of simulated shopping through the
// example rules: each should fire on some swipes, but on no more than a
// fraction of them, or shoppers would be spammed before limits apply.
func TestExamplesFire(t *testing.T) {
	set, err := LoadPaths("examples")
	if err != nil {
		t.Fatal(err)
	}
	cats := []string{"coffee", "tea", "dairy", "bakery", "produce", "meat", "seafood", "frozen", "snacks",
		"beverages", "beer", "wine", "baby", "pet", "household", "personal-care", "pharmacy", "deli", "cereal",
		"pasta", "breakfast", "condiments", "canned", "cleaning", "paper", "health", "beauty", "toys", "garden", "electronics"}
	rng := rand.New(rand.NewPCG(1, 2))
	basket := func(n int) ([]loyalty.Item, int64) {
		items := make([]loyalty.Item, n)
		var total int64
		for i := range items {
			c := cats[rng.IntN(len(cats))]
			items[i] = loyalty.Item{SKU: fmt.Sprintf("%s-%d", c, rng.IntN(20)), Category: c, Qty: 1 + rng.Int64N(4)/3, UnitPriceCents: 99 + rng.Int64N(800)}
			total += items[i].LineCents()
		}
		return items, total
	}
	e := set.NewEvaluator()
	fired := map[string]int{}
	swipes := 0
	start := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	for card := range 300 {
		p := loyalty.NewProfile(fmt.Sprint("card-", card))
		every := 2 + rng.IntN(20) // days between visits
		for day := rng.IntN(every); day < 60; day += every + rng.IntN(3) {
			ts := start.AddDate(0, 0, day).Add(time.Duration(rng.IntN(12*60)) * time.Minute)
			visit := []*loyalty.Swipe{}
			if rng.IntN(3) == 0 {
				visit = append(visit, &loyalty.Swipe{Kind: loyalty.KindCheckin, TS: ts})
			}
			if rng.IntN(3) == 0 {
				items, _ := basket(1)
				visit = append(visit, &loyalty.Swipe{Kind: loyalty.KindScan, TS: ts.Add(5 * time.Minute), Items: items})
			}
			items, total := basket(1 + rng.IntN(15))
			visit = append(visit, &loyalty.Swipe{Kind: loyalty.KindPurchase, TS: ts.Add(20 * time.Minute), Items: items, TotalCents: total})
			for i, s := range visit {
				s.SwipeID, s.CardID, s.StoreID = fmt.Sprint(card, "-", day, "-", i), p.CardID, "s1"
				p.Apply(s)
				swipes++
				for _, r := range e.Match(s, p, nil, func(r *Rule, err error) { t.Errorf("rule %s: %v", r.ID, err) }) {
					fired[r.ID]++
				}
			}
		}
	}
	for _, r := range set.Rules() {
		rate := float64(fired[r.ID]) / float64(swipes)
		t.Logf("%-20s fires on %5.2f%% of %d swipes", r.ID, 100*rate, swipes)
		if rate < 0.005 || rate > 0.25 {
			t.Errorf("rule %s fires on %.2f%% of swipes, want 0.5%% to 25%%", r.ID, 100*rate)
		}
	}
}

func TestLoadPathsFollowsSymlinks(t *testing.T) {
	// Kubernetes mounts a ConfigMap's files as symlinks into ..data/.
	dir := t.TempDir()
	data := filepath.Join(dir, "..data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	rule := "id: linked\nwhen: swipe.total_cents > 0\nchannels: [mobile]\noffer: { title: Hi }\n"
	if err := os.WriteFile(filepath.Join(data, "linked.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..data", "linked.yaml"), filepath.Join(dir, "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	set, err := LoadPaths(dir)
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 1 || set.Rules()[0].ID != "linked" {
		t.Fatalf("loaded %d rules", set.Len())
	}
}

func TestMethodsOfDomainTypesAreRefused(t *testing.T) {
	for _, when := range []string{`profile.Apply(swipe) == 0`, `swipe.Day() > 0`, `profile.SpendWithin(1, 7) > 0`,
		`any(profile.categories, .RepurchaseDays() > 1)`, `profile.AddOffered != nil`} {
		_, err := Parse("m.yaml", []byte("id: m\nwhen: '"+when+"'\nchannels: [mobile]\noffer: { title: Hi }\n"))
		if err == nil || !strings.Contains(err.Error(), "methods of") {
			t.Errorf("%s: got %v, want a refusal", when, err)
		}
	}
	for _, when := range []string{`now.Hour() < 20`, `let h = swipe.ts.Hour; h() < 20`} {
		if _, err := Parse("ok.yaml", []byte("id: ok\nwhen: '"+when+"'\nchannels: [mobile]\noffer: { title: Hi }\n")); err != nil {
			t.Errorf("%s: methods of time.Time must stay available: %v", when, err)
		}
	}
}

// TestConditionCannotCallProfileMethods: a condition cannot reach a
// method of the profile through a value whose type is known only at run
// time, where the compile-time refusal above does not see it.
func TestConditionCannotCallProfileMethods(t *testing.T) {
	for _, when := range []string{
		`any([profile, 1], #.AddOffered("zzz") != nil)`,
		`let p = [profile, 1][0]; p.AddOffered("zzz") != nil`,
		`let p = (swipe.total_cents > 0 ? profile : 1); p.AddOffered("zzz") != nil`,
		`let f = [profile, 1][0].AddOffered; f("zzz") != nil`,
		`let f = profile.AddOffered; f("zzz") != nil`,
	} {
		rs, err := Parse("f.yaml", []byte(fmt.Sprintf("id: r\nwhen: '%s'\nchannels: [pos]\noffer: {title: T}\n", when)))
		if err != nil {
			continue
		}
		set, err := NewSet(rs)
		if err != nil {
			t.Fatal(err)
		}
		s := purchase("p", at(10, 9, 0), item("a", "coffee", 100))
		p := loyalty.NewProfile("card-1")
		p.Apply(s)
		set.NewEvaluator().Match(s, p, nil, nil)
		t.Errorf("%s loaded; running it changed the card's profile: offers %+v", when, p.Offers)
	}
}
