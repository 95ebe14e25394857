package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// LoadPaths reads, compiles and indexes the rules in paths. Each path is a
// rule file or a directory whose *.yaml and *.yml files are read in name
// order (subdirectories are not). Problems in every file are collected in
// one ErrorList, so a single run shows all of them.
func LoadPaths(paths ...string) (*Set, error) {
	var (
		rules []*Rule
		errs  ErrorList
	)
	load := func(path string) {
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fileError(path, err))
			return
		}
		rs, err := Parse(path, data)
		if el, ok := err.(ErrorList); ok {
			errs = append(errs, el...)
		}
		rules = append(rules, rs...)
	}
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			errs = append(errs, fileError(path, err))
			continue
		}
		if !fi.IsDir() {
			load(path)
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			errs = append(errs, fileError(path, err))
			continue
		}
		for _, de := range entries { // ReadDir sorts by name
			ext := filepath.Ext(de.Name())
			if !slices.Contains([]string{".yaml", ".yml"}, ext) {
				continue
			}
			// Stat follows symlinks: a Kubernetes ConfigMap mounts its
			// files as links into a hidden directory.
			full := filepath.Join(path, de.Name())
			if fi, err := os.Stat(full); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			load(full)
		}
	}
	if len(errs) > 0 {
		// Duplicate ids are worth reporting alongside the other problems.
		if _, err := NewSet(rules); err != nil {
			errs = append(errs, err.(ErrorList)...)
		}
		return nil, errs.err()
	}
	return NewSet(rules)
}

// fileError reports an I/O error without repeating the path.
func fileError(path string, err error) *Error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Error{File: path, Msg: err.Error()}
}
