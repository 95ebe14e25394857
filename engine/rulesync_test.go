package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aislecast/loyalty/rules"
	"go.uber.org/zap"
)

// ruleDoc returns a rule document with the given version line (none when
// empty), title and a trailing comment.
func ruleDoc(id, version, title string) string {
	if version != "" {
		version = "version: " + version + "\n"
	}
	return fmt.Sprintf(`# a comment that applying keeps
id: %s
%swhen: swipe.kind == "purchase"
channels: [mobile]
offer:
  title: %q
  coupon: { discount_percent: 10 }
`, id, version, title)
}

// RuleFileForTest writes rule text to a file and loads it as offerd and
// offerctl do: the compiled rules and their documents. It is exported to
// the external tests of the package.
func RuleFileForTest(t *testing.T, text string) (*rules.Set, []RuleDoc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadPaths(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := RuleDocs(rs, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	return rs, docs
}

// docsOf returns the documents of rule text.
func docsOf(t *testing.T, text string) []RuleDoc {
	t.Helper()
	_, docs := RuleFileForTest(t, text)
	return docs
}

// topic builds the state of an offer-rules topic from documents written
// in order; "" is a tombstone.
func topic(t *testing.T, records ...[2]string) RuleState {
	st := RuleState{}
	for i, r := range records {
		st.add(RuleRecord{ID: r[0], Doc: []byte(r[1]), Offset: int64(i)})
	}
	return st
}

func TestRuleDocsSplitsFilesIntoDocuments(t *testing.T) {
	docs := docsOf(t, ruleDoc("a", "", "A")+"---\n"+ruleDoc("b", "4", "B"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2", len(docs))
	}
	for _, d := range docs {
		if strings.Count(string(d.Doc), "id: ") != 1 || !strings.Contains(string(d.Doc), "id: "+d.ID) {
			t.Errorf("document of %s:\n%s", d.ID, d.Doc)
		}
		if !strings.Contains(string(d.Doc), "# a comment that applying keeps") {
			t.Errorf("document of %s lost its comment:\n%s", d.ID, d.Doc)
		}
	}
	if docs[0].Version != 1 || docs[1].Version != 4 {
		t.Errorf("versions %d and %d, want 1 and 4", docs[0].Version, docs[1].Version)
	}
}

func TestSetRuleVersion(t *testing.T) {
	for _, tt := range []struct{ name, doc string }{
		{"version missing", ruleDoc("r", "", "T")},
		{"version given", ruleDoc("r", "2", "T")},
		{"flow mapping", `{id: r, when: "true", channels: [pos], offer: {title: T}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := SetRuleVersion([]byte(tt.doc), 7)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := rules.Parse("x.yaml", out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(rs) != 1 || rs[0].ID != "r" || rs[0].Version != 7 {
				t.Fatalf("read back %+v from\n%s", rs, out)
			}
			if !SameRule([]byte(tt.doc), out) {
				t.Errorf("setting the version changed more than the version:\n%s", out)
			}
		})
	}
}

func TestSameRule(t *testing.T) {
	base := ruleDoc("r", "1", "Thanks")
	for _, tt := range []struct {
		name  string
		other string
		same  bool
	}{
		{"identical", base, true},
		{"other version", ruleDoc("r", "9", "Thanks"), true},
		{"comments and layout", strings.ReplaceAll(base, "# a comment that applying keeps", "# another comment") + "\n\n", true},
		{"other title", ruleDoc("r", "1", "Thank you"), false},
		{"not YAML", "{", false},
	} {
		if got := SameRule([]byte(base), []byte(tt.other)); got != tt.same {
			t.Errorf("%s: SameRule = %v, want %v", tt.name, got, tt.same)
		}
	}
}

func TestPlanApply(t *testing.T) {
	v3 := ruleDoc("r", "3", "Thanks")
	tests := []struct {
		name    string
		topic   [][2]string
		file    string   // rule file text; "" for none
		deletes []string // --delete ids
		want    []string // RuleChange.String() per rule
	}{
		{"new rule keeps the file's version", nil, ruleDoc("r", "", "Thanks"), nil, []string{"r: created v1"}},
		{"new rule with a version", nil, ruleDoc("r", "5", "Thanks"), nil, []string{"r: created v5"}},
		{"same content", [][2]string{{"r", v3}}, ruleDoc("r", "", "Thanks"), nil, []string{"r: unchanged v3"}},
		{"only comments differ", [][2]string{{"r", v3}}, strings.ReplaceAll(ruleDoc("r", "1", "Thanks"), "applying keeps", "nobody reads"), nil, []string{"r: unchanged v3"}},
		{"changed content bumps the topic's version", [][2]string{{"r", v3}}, ruleDoc("r", "1", "Thank you"), nil, []string{"r: updated v4 (was v3)"}},
		{"a higher version in the file wins", [][2]string{{"r", v3}}, ruleDoc("r", "10", "Thank you"), nil, []string{"r: updated v10 (was v3)"}},
		{"a higher version alone is a change", [][2]string{{"r", v3}}, ruleDoc("r", "10", "Thanks"), nil, []string{"r: updated v10 (was v3)"}},
		{"recreated after deletion continues numbering", [][2]string{{"r", v3}, {"r", ""}}, ruleDoc("r", "", "Thanks"), nil, []string{"r: created v4"}},
		{"delete", [][2]string{{"r", v3}, {"other", ruleDoc("other", "", "O")}}, "", []string{"r"}, []string{"r: deleted (was v3)"}},
		{"delete of a deleted rule", [][2]string{{"r", v3}, {"r", ""}}, "", []string{"r"}, []string{"r: not in offer-rules; nothing to delete"}},
		{"delete of an unknown rule", nil, "", []string{"nope"}, []string{"nope: not in offer-rules; nothing to delete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []RuleDoc
			if tt.file != "" {
				docs = docsOf(t, tt.file)
			}
			plan, err := PlanApply(topic(t, tt.topic...), docs, tt.deletes)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range plan {
				got = append(got, c.String())
				if !c.Publish() {
					if c.Doc != nil {
						t.Errorf("%s: a change that publishes nothing carries a document", c.ID)
					}
					continue
				}
				if c.Action == Deleted {
					if c.Doc != nil {
						t.Errorf("%s: a deletion must publish a tombstone, not %q", c.ID, c.Doc)
					}
					continue
				}
				rs, err := rules.Parse("published.yaml", c.Doc)
				if err != nil || len(rs) != 1 || rs[0].Version != c.Version {
					t.Errorf("%s: published document does not read back as v%d (%v):\n%s", c.ID, c.Version, err, c.Doc)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("plan %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("apply and delete one rule at once", func(t *testing.T) {
		if _, err := PlanApply(RuleState{}, docsOf(t, ruleDoc("r", "", "T")), []string{"r"}); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestPlanSeedNeverOverwritesTheTopic(t *testing.T) {
	st := topic(t,
		[2]string{"same", ruleDoc("same", "2", "S")},
		[2]string{"edited", ruleDoc("edited", "2", "Old title")},
		[2]string{"gone", ruleDoc("gone", "2", "G")}, [2]string{"gone", ""},
	)
	docs := docsOf(t, ruleDoc("same", "", "S")+"---\n"+ruleDoc("edited", "", "New title")+"---\n"+
		ruleDoc("gone", "", "G")+"---\n"+ruleDoc("fresh", "", "F"))
	plan, err := PlanSeed(st, docs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Action{}
	for _, c := range plan {
		got[c.ID] = c.Action
		if c.Publish() != (c.ID == "fresh") {
			t.Errorf("%s: publish %v", c.ID, c.Publish())
		}
	}
	want := map[string]Action{"same": Unchanged, "edited": TopicWins, "gone": TopicDeleted, "fresh": Created}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("seed plan %v, want %v", got, want)
	}
}

// TestRuleSyncKeepsPreviousVersionOnCompileFailure feeds records as the
// engine reads them from offer-rules.
func TestRuleSyncKeepsPreviousVersionOnCompileFailure(t *testing.T) {
	stats := &ruleSyncStats{}
	s := newRuleSync(zap.NewNop(), stats)
	v1, _ := SetRuleVersion([]byte(ruleDoc("r", "", "First")), 1)
	newer, _ := SetRuleVersion([]byte(ruleDoc("r", "", "Newer")+"sparkle: true # a field of a later release\n"), 2)
	steps := []struct {
		name    string
		rec     RuleRecord
		changed bool
		version int // of rule r in the set afterwards; 0: absent
	}{
		{"first version", RuleRecord{ID: "r", Doc: v1}, true, 1},
		{"same record again", RuleRecord{ID: "r", Doc: v1}, false, 1},
		{"does not compile", RuleRecord{ID: "r", Doc: newer}, false, 1},
		{"key names another rule", RuleRecord{ID: "x", Doc: v1}, false, 1},
		{"no key", RuleRecord{Doc: v1}, false, 1},
		{"tombstone", RuleRecord{ID: "r"}, true, 0},
		{"tombstone of an absent rule", RuleRecord{ID: "r"}, false, 0},
	}
	for i, st := range steps {
		st.rec.Offset = int64(i)
		if got := s.apply(st.rec, true); got != st.changed {
			t.Errorf("%s: changed %v, want %v", st.name, got, st.changed)
		}
		set, err := s.set()
		if err != nil {
			t.Fatal(err)
		}
		version := 0
		for _, r := range set.Rules() {
			if r.ID == "r" {
				version = r.Version
			}
		}
		if version != st.version {
			t.Errorf("%s: rule r at v%d, want v%d", st.name, version, st.version)
		}
	}
	if got := fmt.Sprint(stats.Rejected()); got != "[{ 1} {r 1} {x 1}]" {
		t.Errorf("rejected %s, want one each for r, x and the record without key", got)
	}
}
