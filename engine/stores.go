package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aislecast/loyalty/rules"
	"go.yaml.in/yaml/v3"
)

// TopicStores is the compacted topic of store records, keyed by store id,
// that overrides the store registry file.
const TopicStores = "stores"

// StoreRecord is one store of the registry: its id (the swipes'
// store_id), name, IANA time zone and optional region.
type StoreRecord struct {
	ID       string `json:"store_id,omitempty"`
	Name     string `json:"name,omitempty"`
	TimeZone string `json:"time_zone"`
	Region   string `json:"region,omitempty"`

	loc *time.Location
}

// Location is the store's time zone.
func (s *StoreRecord) Location() *time.Location { return s.loc }

// StoreRegistry knows where every store stands: the stores of a registry
// file (ParseStores, LoadStores), overridden store by store by the
// records of the stores topic. Offer schedules and quiet hours are judged
// in a known store's zone; a swipe from a store it does not know is judged
// by its own UTC offset. It is safe for concurrent use.
type StoreRegistry struct {
	file map[string]*StoreRecord // read-only after construction

	mu    sync.RWMutex
	topic map[string]*StoreRecord
}

// NewStoreRegistry returns a registry of the given stores, as a file
// would give them; their time zones must be loaded already or load by
// name.
func NewStoreRegistry(stores ...StoreRecord) (*StoreRegistry, error) {
	r := &StoreRegistry{file: make(map[string]*StoreRecord, len(stores)), topic: map[string]*StoreRecord{}}
	for _, s := range stores {
		if err := s.check(); err != nil {
			return nil, err
		}
		r.file[s.ID] = &s
	}
	return r, nil
}

// check validates a record and loads its zone.
func (s *StoreRecord) check() error {
	if s.ID == "" {
		return errors.New("store without an id")
	}
	if s.loc != nil {
		return nil
	}
	loc, err := loadZone(s.TimeZone)
	if err != nil {
		return fmt.Errorf("store %s: %w", s.ID, err)
	}
	s.loc = loc
	return nil
}

// loadZone loads an IANA zone by name, refusing "" and "Local", which
// would make decisions depend on the machine the engine runs on.
func loadZone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("time_zone must be an IANA zone such as America/New_York, not %q", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time_zone %q; use an IANA zone such as America/New_York or Europe/Berlin", name)
	}
	return loc, nil
}

// LoadStores reads a store registry file; see ParseStores.
func LoadStores(path string) (*StoreRegistry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("store registry: %w", err)
	}
	return ParseStores(path, data)
}

var storeFields = []string{"name", "time_zone", "region"}

// ParseStores reads a store registry: a YAML mapping from store id to the
// store's name, IANA time_zone (required) and region:
//
//	s001: { name: New York 5th Ave, time_zone: America/New_York, region: us-east }
//	s002:
//	  name: Berlin Mitte
//	  time_zone: Europe/Berlin
//
// Every problem is reported, as rules.ErrorList, with file:line:col.
func ParseStores(filename string, data []byte) (*StoreRegistry, error) {
	var errs rules.ErrorList
	fail := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, &rules.Error{File: filename, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && err != io.EOF {
		return nil, rules.ErrorList{rules.YAMLError(filename, data, err)}
	}
	r := &StoreRegistry{file: map[string]*StoreRecord{}, topic: map[string]*StoreRecord{}}
	if len(doc.Content) == 0 {
		return r, nil // an empty file: no stores
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		fail(m, "a store registry is a mapping from store id to {name, time_zone, region}")
		return nil, errs
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		id := k.Value
		if k.Kind != yaml.ScalarNode || id == "" {
			fail(k, "a store id must be a non-empty string")
			continue
		}
		if r.file[id] != nil {
			fail(k, "store %s given twice", id)
			continue
		}
		if v.Kind != yaml.MappingNode {
			fail(v, "store %s: want a mapping with fields %s", id, strings.Join(storeFields, ", "))
			continue
		}
		s := &StoreRecord{ID: id}
		var zoneNode *yaml.Node
		ok := true
		for j := 0; j+1 < len(v.Content); j += 2 {
			fk, fv := v.Content[j], v.Content[j+1]
			if fv.Kind != yaml.ScalarNode {
				fail(fv, "store %s: %s must be a string", id, fk.Value)
				ok = false
				continue
			}
			switch fk.Value {
			case "name":
				s.Name = fv.Value
			case "time_zone":
				s.TimeZone, zoneNode = fv.Value, fv
			case "region":
				s.Region = fv.Value
			default:
				fail(fk, "store %s: unknown field %s; known fields: %s", id, fk.Value, strings.Join(storeFields, ", "))
				ok = false
			}
		}
		if zoneNode == nil {
			fail(v, "store %s: time_zone is required (an IANA zone such as America/New_York)", id)
			continue
		}
		loc, err := loadZone(s.TimeZone)
		if err != nil {
			fail(zoneNode, "store %s: %v", id, err)
			continue
		}
		s.loc = loc
		if ok {
			r.file[id] = s
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return r, nil
}

// Zone is the time zone of a store, or nil when the registry does not know
// the store.
func (r *StoreRegistry) Zone(id string) *time.Location {
	if s := r.Lookup(id); s != nil {
		return s.loc
	}
	return nil
}

// Lookup returns a store's record: the stores topic's, else the file's,
// else nil.
func (r *StoreRegistry) Lookup(id string) *StoreRecord {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	s := r.topic[id]
	r.mu.RUnlock()
	if s == nil {
		s = r.file[id]
	}
	return s
}

// Len is the number of stores known, from the file and the topic.
func (r *StoreRegistry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.file)
	for id := range r.topic {
		if r.file[id] == nil {
			n++
		}
	}
	return n
}

// Stores lists the known stores by id.
func (r *StoreRegistry) Stores() []StoreRecord {
	r.mu.RLock()
	out := make([]StoreRecord, 0, len(r.file)+len(r.topic))
	for id, s := range r.file {
		if r.topic[id] == nil {
			out = append(out, *s)
		}
	}
	for _, s := range r.topic {
		out = append(out, *s)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// set applies a record of the stores topic: JSON
// {"store_id", "name", "time_zone", "region"} keyed by store id.
func (r *StoreRegistry) set(key string, value []byte) error {
	s := &StoreRecord{}
	if err := json.Unmarshal(value, s); err != nil {
		return fmt.Errorf("not a store record: %w", err)
	}
	if s.ID != "" && s.ID != key {
		return fmt.Errorf("store_id %q differs from the key", s.ID)
	}
	s.ID = key
	if err := s.check(); err != nil {
		return err
	}
	r.mu.Lock()
	r.topic[key] = s
	r.mu.Unlock()
	return nil
}

// forget drops the stores topic's record of a store: the file's applies
// again, if any.
func (r *StoreRegistry) forget(key string) {
	r.mu.Lock()
	delete(r.topic, key)
	r.mu.Unlock()
}
