package labs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is the state file: the breaks in force, oldest first.
type State struct {
	Breaks []*Broken `json:"breaks"`
}

// Broken is one fault made, and how to undo it.
type Broken struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	// Undo are the changes that put things back, in the order they were
	// made (fix applies them last first).
	Undo []Step `json:"undo"`
	// ZoneFiles are the zone files as they were before the break, put back
	// byte for byte by fix once the records are back.
	ZoneFiles []ZoneFile `json:"zone_files,omitempty"`
	// Flush: the fault left answers in the resolver's cache.
	Flush bool `json:"flush,omitempty"`
	// Backends are web servers every lbd must see up again after fix.
	Backends []string `json:"backends,omitempty"`
	// Regions are regional lbd parts that must serve (and be healthy for
	// GeoDNS) again after fix.
	Regions []string `json:"regions,omitempty"`
	// Cert is the SHA-256 of the certificate the HTTPS frontend must serve
	// again after fix.
	Cert string `json:"cert,omitempty"`
}

// Step is one undo change; exactly one field is set.
type Step struct {
	RRset *RRset `json:"rrset,omitempty"`
	Part  *Part  `json:"part,omitempty"`
	Knobs *Knobs `json:"knobs,omitempty"`
	File  *File  `json:"file,omitempty"`
	// Signer is a DNSSEC signer's clock offset to set back (dnssec.go).
	Signer *SignerClock `json:"signer,omitempty"`
}

// SignerClock is a zone signer's clock offset as it was.
type SignerClock struct {
	Zone        string `json:"zone"`
	ClockOffset string `json:"clock_offset"`
}

// RRset is a record set as it was; no Data: it did not exist.
type RRset struct {
	Zone string   `json:"zone"`
	Name string   `json:"name"`
	Type string   `json:"type"`
	TTL  uint32   `json:"ttl,omitempty"`
	Data []string `json:"data,omitempty"`
}

// Part is a supervised part's state to go back to.
type Part struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// Knobs are a web server's knobs to set back (a webd.ConfigPatch).
type Knobs struct {
	Backend string          `json:"backend"`
	Patch   json.RawMessage `json:"patch"`
}

// File is a file's content and mode as they were.
type File struct {
	Path    string      `json:"path"`
	Content []byte      `json:"content"`
	Mode    fs.FileMode `json:"mode"`
}

// ZoneFile is a zone's file before a break: its bytes, its serial and its
// records (SOA left out) as served, to know that nobody else changed the
// zone before the bytes are put back.
type ZoneFile struct {
	Zone    string      `json:"zone"`
	Path    string      `json:"path"`
	Content []byte      `json:"content"`
	Mode    fs.FileMode `json:"mode"`
	Serial  uint32      `json:"serial"`
	Records []string    `json:"records"`
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s is not a break record netsim wrote: %w (delete it only once the stack is fixed by hand)", path, err)
	}
	return &s, nil
}

// save writes the state file atomically; an empty state removes it.
func (s *State) save(path string) error {
	if len(s.Breaks) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'), 0o600)
}

// writeAtomic writes data to path through a temporary file in the same
// directory and a rename: a reader (lbd's certificate watcher, dnsd's
// reload) sees the old content or the new, never a part.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), mode.Perm())); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
