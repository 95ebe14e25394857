package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := write(t, dir, "good.yaml", `id: thanks
when: swipe.total_cents > 5000
channels: [mobile, email]
offer:
  title: Thanks
  coupon: { discount_percent: 10 }
`)
	bad := write(t, dir, "bad.yaml", `id: broken
when: swipe.total_cents > "lots"
channels: [fax]
offer:
  title: Oops
`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string // substrings, in order
	}{
		{"valid file", []string{"validate", good}, 0, []string{"ok  " + good + ":1: rule thanks v1 priority 0 → mobile+email, 10% off, expires in 24h0m0s"}},
		{"valid examples dir", []string{"validate", "../../rules/examples"}, 0, []string{"ok  ", "rule coffee-replenish"}},
		{"errors with positions", []string{"validate", good, bad}, 1, []string{bad + ":2:", "rule broken:", bad + ":3:", "rule broken:"}},
		{"no files", []string{"validate"}, 2, nil},
		{"missing file", []string{"validate", filepath.Join(dir, "nope.yaml")}, 2, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil},
		{"no command", nil, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runInOrder(t, tt.args, tt.code, tt.stdout)
		})
	}
}

// runInOrder runs offerctl with args and checks its exit status and that
// its stdout holds the wanted substrings in order.
func runInOrder(t *testing.T, args []string, code int, stdout []string) {
	t.Helper()
	var out, errb bytes.Buffer
	if got := run(args, &out, &errb); got != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", got, code, out.String(), errb.String())
	}
	rest := out.String()
	for _, want := range stdout {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("stdout lacks %q (in order):\n%s", want, out.String())
		}
		rest = rest[i+len(want):]
	}
}
