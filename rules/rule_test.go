package rules

import "testing"

// TestUnenforced: package offers enforces limits, schedules and holdouts;
// only a budget is left to warn about.
func TestUnenforced(t *testing.T) {
	const tail = "\nchannels: [mobile]\noffer: {title: T}\n"
	tests := []struct{ policy, want string }{
		{"", ""},
		{"limits: {cooldown: 7d, max_per_card: {count: 2, per: 30d}}\nschedule: {hours: \"08:00-21:00\"}\nholdout: 10%", ""},
		{"limits: {budget: {count: 50000}}", "limits.budget validated but not enforced yet: the rule sends past its budget"},
	}
	for _, tt := range tests {
		rs, err := Parse("u.yaml", []byte("id: r\nwhen: \"true\"\n"+tt.policy+tail))
		if err != nil {
			t.Fatal(err)
		}
		if got := Unenforced(rs[0]); got != tt.want {
			t.Errorf("%q: Unenforced = %q, want %q", tt.policy, got, tt.want)
		}
	}
}
