package main

import (
	"io"
	"net/http"
	"testing"

	"go.uber.org/zap"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/rules"
)

// TestAdminMethods checks what the admin server answers an engine that
// has not joined its group: probes and metrics answer GET (and HEAD),
// and any other method is refused with 405 rather than taken for a probe.
func TestAdminMethods(t *testing.T) {
	set, err := rules.NewSet(nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Config{Brokers: []string{"127.0.0.1:1"}, Group: "admin-test", Rules: set})
	if err != nil {
		t.Fatal(err)
	}
	stop, addr, err := serveAdmin("127.0.0.1:0", e, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/healthz", 200},
		{"HEAD", "/healthz", 200},
		{"GET", "/readyz", 503},
		{"GET", "/metrics", 200},
		{"GET", "/profiles/c1", 404},
		{"POST", "/healthz", 405},
		{"DELETE", "/readyz", 405},
		{"POST", "/metrics", 405},
		{"PUT", "/profiles/c1", 405},
		{"GET", "/nope", 404},
	} {
		req, err := http.NewRequest(c.method, "http://"+addr+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: HTTP %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
}
