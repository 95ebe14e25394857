package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aislecast/loyalty/engine"
	"github.com/aislecast/loyalty/offers"
	"github.com/aislecast/loyalty/rules"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

func runDaemon(ctx context.Context, o *options, log *zap.Logger) error {
	rs, err := rules.LoadPaths(o.rulesPath)
	if err != nil {
		return err
	}
	logRules(log, rs)
	docs, err := engine.RuleDocs(rs, os.ReadFile)
	if err != nil {
		return err
	}
	e, stop, err := startEngine(o, log, rs, docs, splitBrokers(o.brokers))
	if err != nil {
		return err
	}
	defer stop()
	return e.Run(ctx)
}

// logRules reports the loaded rules.
func logRules(log *zap.Logger, rs *rules.Set) {
	log.Info("rules loaded", zap.Int("rules", rs.Len()))
}

// startEngine builds the engine from the options and starts its admin
// server when --admin is given; stop stops the admin server. The engine
// follows the offer-rules topic, seeding it with the documents of rs.
func startEngine(o *options, log *zap.Logger, rs *rules.Set, docs []engine.RuleDoc, brokers []string) (e *engine.Engine, stop func(), err error) {
	e, err = engine.New(engine.Config{
		Brokers:    brokers,
		Group:      o.group,
		Rules:      rs,
		SyncRules:  true,
		RuleSeed:   docs,
		Partitions: o.partitions,
		Logger:     log,

		MaxOffersPerChannel: o.maxOffers,
		SendExpired:         o.sendExpired,

		Stores:           o.stores,
		QuietHours:       o.quiet,
		ConsentOptIn:     offers.AllChannels &^ o.consentDefault,
		StoreDir:         o.storeDir,
		CompactOnRestore: o.compactOnRestore,
		CacheBytes:       cacheBytes(o.cacheMB),
	})
	if err != nil {
		return nil, nil, err
	}
	stop = func() {}
	if o.admin != "" {
		if stop, _, err = serveAdmin(o.admin, e, log); err != nil {
			return nil, nil, err
		}
	}
	return e, stop, nil
}

func splitBrokers(s string) []string {
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// serveAdmin starts the admin HTTP server: /healthz answers while the
// process runs, /readyz only while the engine is in its group and its
// writes succeed, /metrics serves Prometheus metrics and /profiles/{card}
// the stored profile of a card whose partition this instance owns. They
// answer GET and HEAD only, so that a request meant for something else is
// refused (405) rather than taken for a probe. It returns the address it
// listens on.
func serveAdmin(addr string, e *engine.Engine, log *zap.Logger) (stop func(), listening string, err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !e.Ready() {
			http.Error(w, "not ready: not in the consumer group or brokers unreachable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /profiles/{card}", func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := e.Profile(r.PathValue("card"))
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !ok:
			http.Error(w, "no profile for this card on this instance (another instance may own its partition)", http.StatusNotFound)
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(p)
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin server", zap.Error(err))
		}
	}()
	log.Info("admin server listening", zap.String("addr", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, ln.Addr().String(), nil
}

// cacheBytes is the engine's cache size for --profile-cache-mb: 0 turns
// the cache off, which the engine's Config spells as a negative size.
func cacheBytes(mb int) int64 {
	if mb <= 0 {
		return -1
	}
	return int64(mb) << 20
}
