package engine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aislecast/loyalty/engine"
)

func TestParseStores(t *testing.T) {
	good := `# the chain
s001: { name: New York 5th Ave, time_zone: America/New_York, region: us-east }
s002:
  name: Berlin Mitte
  time_zone: Europe/Berlin
`
	r, err := engine.ParseStores("stores.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 || r.Zone("s001").String() != "America/New_York" || r.Zone("s002").String() != "Europe/Berlin" || r.Zone("s003") != nil {
		t.Errorf("registry %+v", r.Stores())
	}
	if s := r.Lookup("s001"); s.Name != "New York 5th Ave" || s.Region != "us-east" {
		t.Errorf("s001 = %+v", s)
	}
	if r, err := engine.ParseStores("empty.yaml", nil); err != nil || r.Len() != 0 {
		t.Errorf("an empty file: %v, %d stores", err, r.Len())
	}

	tests := []struct{ name, src, want string }{
		{"unknown zone", "s001: { name: NY, time_zone: America/New_Yrok }\n",
			`stores.yaml:1:30: store s001: unknown time_zone "America/New_Yrok"; use an IANA zone such as America/New_York or Europe/Berlin`},
		{"machine-dependent zone", "s001:\n  time_zone: Local\n",
			`stores.yaml:2:14: store s001: time_zone must be an IANA zone such as America/New_York, not "Local"`},
		{"no zone", "s001: { name: NY }\n",
			"stores.yaml:1:7: store s001: time_zone is required (an IANA zone such as America/New_York)"},
		{"unknown field", "s001: { time_zone: UTC, tz: UTC }\n",
			"stores.yaml:1:25: store s001: unknown field tz; known fields: name, time_zone, region"},
		{"twice", "s001: { time_zone: UTC }\ns001: { time_zone: UTC }\n",
			"stores.yaml:2:1: store s001 given twice"},
		{"not a mapping", "- s001\n", "stores.yaml:1:1: a store registry is a mapping from store id to {name, time_zone, region}"},
		{"every problem at once", "s001: { time_zone: Mars/Olympus }\ns002: { name: x }\n",
			"stores.yaml:1:20: store s001: unknown time_zone \"Mars/Olympus\"; use an IANA zone such as America/New_York or Europe/Berlin\n" +
				"stores.yaml:2:7: store s002: time_zone is required (an IANA zone such as America/New_York)"},
		{"not YAML", "s001: [\n", "stores.yaml:2:1: invalid YAML: did not find expected node content"}, // at the end of the file
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := engine.ParseStores("stores.yaml", []byte(tt.src))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLoadStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stores.yaml")
	if err := os.WriteFile(path, []byte("s1: {time_zone: Asia/Tokyo}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := engine.LoadStores(path)
	if err != nil || r.Zone("s1").String() != "Asia/Tokyo" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := engine.LoadStores(path + ".missing"); err == nil {
		t.Error("a missing file loaded")
	}
}
