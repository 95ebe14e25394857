package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// profiles are the optional profiles of a whole run (both sides, and the
// embedded broker when there is one): CPU, execution trace, and the block
// and mutex profiles that show where the Kafka path waits, and the
// allocation profile that shows what makes the garbage collector run.
type profiles struct {
	cpu, trace, block, mutex, allocs string
}

func (p *profiles) flags(fs *flag.FlagSet) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&p.trace, "trace", "", "write an execution trace of the run to this file (large: use a short run)")
	fs.StringVar(&p.block, "blockprofile", "", "write a blocking profile (every blocking event) to this file")
	fs.StringVar(&p.mutex, "mutexprofile", "", "write a mutex contention profile (every event) to this file")
	fs.StringVar(&p.allocs, "memprofile", "", "write an allocation profile of the run (every side's allocations since start) to this file")
}

// start starts the asked-for profiles; the returned stop writes them.
func (p *profiles) start() (stop func() error, err error) {
	var stops []func() error
	stop = func() error {
		var errs []error
		for i := len(stops) - 1; i >= 0; i-- {
			errs = append(errs, stops[i]())
		}
		return errors.Join(errs...)
	}
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		stops = append(stops, func() error { pprof.StopCPUProfile(); return f.Close() })
	}
	if p.trace != "" {
		f, err := os.Create(p.trace)
		if err != nil {
			stop()
			return nil, err
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return nil, fmt.Errorf("trace: %w", err)
		}
		stops = append(stops, func() error { trace.Stop(); return f.Close() })
	}
	if p.block != "" {
		runtime.SetBlockProfileRate(1)
		stops = append(stops, func() error { return writeProfile("block", p.block) })
	}
	if p.mutex != "" {
		runtime.SetMutexProfileFraction(1)
		stops = append(stops, func() error { return writeProfile("mutex", p.mutex) })
	}
	if p.allocs != "" {
		stops = append(stops, func() error { return writeProfile("allocs", p.allocs) })
	}
	return stop, nil
}

func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}
