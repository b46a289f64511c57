package xfr

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/dns"

	"netsim/zones"
)

// Entry is one change of a zone, as IXFR sends it (RFC 1995 §4): the SOA
// before, the records taken out, the SOA after, the records put in.
type Entry struct {
	Old, New *dns.SOA
	Del, Add []dns.RR
}

// Journal is the bounded list of a zone's changes, for IXFR. On disk it
// is a file of entries, each written and fsynced before the change is
// acknowledged: [4 bytes length][4 bytes CRC-32][payload]. A torn last
// entry (a crash mid-write) is cut off when the file is opened. Past max
// entries, the oldest are dropped (a client older than the first gets
// AXFR); the file is rewritten then (write, fsync, rename).
type Journal struct {
	mu      sync.Mutex
	path    string // "" : memory only
	max     int
	f       *os.File
	entries []Entry
}

const journalMagic = "netsim-journal-1\n"

// OpenJournal opens (or creates) the journal at path; "" keeps it in
// memory. limit bounds the entries kept (at least 1).
func OpenJournal(path string, limit int) (*Journal, error) {
	j := &Journal{path: path, max: max(limit, 1)}
	if path == "" {
		return j, nil
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	good := 0
	if len(data) > 0 {
		if !bytes.HasPrefix(data, []byte(journalMagic)) {
			return nil, fmt.Errorf("journal %s: not a netsim journal (it starts with %q; want %q): move it away", path, firstLine(data), journalMagic[:len(journalMagic)-1])
		}
		good = len(journalMagic)
		for {
			e, n, ok := readEntry(data[good:])
			if !ok {
				break
			}
			if l := len(j.entries); l > 0 && j.entries[l-1].New.Serial != e.Old.Serial {
				j.entries = nil // a gap: what came before cannot be chained
			}
			j.entries = append(j.entries, e)
			good += n
		}
	}
	if len(data) == 0 {
		return j, nil // the file is made by the first change
	}
	if good != len(data) || len(j.entries) > j.max {
		return j, j.rewrite() // a torn tail is cut off
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j.f = f
	return j, nil
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i < 40 {
		return string(b[:i])
	}
	return string(b[:min(len(b), 16)])
}

// Close closes the file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// Append records a change; on disk it is fsynced before Append returns.
func (j *Journal) Append(e Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if l := len(j.entries); l > 0 && j.entries[l-1].New.Serial != e.Old.Serial {
		j.entries = nil // the zone moved on without the journal (a reload of an edited file)
		if err := j.rewrite(); err != nil {
			return err
		}
	}
	j.entries = append(j.entries, e)
	if j.path == "" {
		if len(j.entries) > j.max {
			j.entries = append([]Entry(nil), j.entries[len(j.entries)-j.max:]...)
		}
		return nil
	}
	if j.f == nil || len(j.entries) > j.max+j.max/4 { // the first change, or the bound passed (now and then, not on every change)
		return j.rewrite()
	}
	b, err := packEntry(e)
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", j.path, err)
	}
	return nil
}

// Reset forgets every entry (the zone was replaced by other means). An
// empty journal has no file: it is removed, and made again by the next
// change (so a zones directory put back by hand is as it was).
func (j *Journal) Reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = nil
	if j.path == "" {
		return nil
	}
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	if err := os.Remove(j.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// Since returns the entries that lead from serial to the last one, or
// false when the journal does not reach back to serial.
func (j *Journal) Since(serial uint32) ([]Entry, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, e := range j.entries {
		if e.Old.Serial == serial {
			return append([]Entry(nil), j.entries[i:]...), true
		}
	}
	return nil, false
}

// Len is the number of entries kept.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.entries)
}

// Last is the serial the journal ends at (false when it is empty).
func (j *Journal) Last() (uint32, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.entries) == 0 {
		return 0, false
	}
	return j.entries[len(j.entries)-1].New.Serial, true
}

// rewrite writes the last max entries to a new file and renames it over
// the journal; j.mu is held (or j is not shared yet).
func (j *Journal) rewrite() error {
	if len(j.entries) > j.max {
		j.entries = append([]Entry(nil), j.entries[len(j.entries)-j.max:]...)
	}
	if j.path == "" { // a zone held in memory: no file to write
		return nil
	}
	var buf bytes.Buffer
	buf.WriteString(journalMagic)
	for _, e := range j.entries {
		b, err := packEntry(e)
		if err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		buf.Write(b)
	}
	dir := filepath.Dir(j.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(j.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	_, werr := tmp.Write(buf.Bytes())
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("journal %s: writing %s: %w", j.path, tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), j.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if j.f != nil { // the open file is the old one now
		j.f.Close()
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		j.f = nil
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	j.f = f
	return nil
}

// packEntry: old SOA, new SOA, the count of deletions, then the
// deletions and additions, each record uncompressed with its length.
func packEntry(e Entry) ([]byte, error) {
	var p bytes.Buffer
	rrs := append(append([]dns.RR{e.Old, e.New}, e.Del...), e.Add...)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(e.Del)))
	p.Write(n[:])
	for _, rr := range rrs {
		b := make([]byte, dns.Len(rr)+16)
		off, err := dns.PackRR(dns.Copy(rr), b, 0, nil, false) // PackRR writes the header: not on records the zone serves
		if err != nil {
			return nil, fmt.Errorf("packing %s: %w", rr, err)
		}
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(off))
		p.Write(l[:])
		p.Write(b[:off])
	}
	out := make([]byte, 8, 8+p.Len())
	binary.BigEndian.PutUint32(out, uint32(p.Len()))
	binary.BigEndian.PutUint32(out[4:], crc32.ChecksumIEEE(p.Bytes()))
	return append(out, p.Bytes()...), nil
}

// readEntry reads one entry from the front of b: false when b is empty,
// torn or corrupt.
func readEntry(b []byte) (Entry, int, bool) {
	if len(b) < 8 {
		return Entry{}, 0, false
	}
	size := int(binary.BigEndian.Uint32(b))
	if size < 4 || len(b)-8 < size || crc32.ChecksumIEEE(b[8:8+size]) != binary.BigEndian.Uint32(b[4:]) {
		return Entry{}, 0, false
	}
	p := bufio.NewReader(bytes.NewReader(b[8 : 8+size]))
	var n [4]byte
	if _, err := io.ReadFull(p, n[:]); err != nil {
		return Entry{}, 0, false
	}
	ndel := int(binary.BigEndian.Uint32(n[:]))
	var rrs []dns.RR
	for {
		var l [2]byte
		if _, err := io.ReadFull(p, l[:]); err != nil {
			break
		}
		rb := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(p, rb); err != nil {
			return Entry{}, 0, false
		}
		rr, _, err := dns.UnpackRR(rb, 0)
		if err != nil {
			return Entry{}, 0, false
		}
		rrs = append(rrs, rr)
	}
	if len(rrs) < 2+ndel {
		return Entry{}, 0, false
	}
	old, ok1 := rrs[0].(*dns.SOA)
	nw, ok2 := rrs[1].(*dns.SOA)
	if !ok1 || !ok2 {
		return Entry{}, 0, false
	}
	return Entry{Old: old, New: nw, Del: rrs[2 : 2+ndel], Add: rrs[2+ndel:]}, 8 + size, true
}

// EntryOf is the journal entry that turns old into new.
func EntryOf(old, new *zones.Zone) Entry {
	del, add := zones.Diff(old, new)
	return Entry{Old: dns.Copy(old.SOA).(*dns.SOA), New: dns.Copy(new.SOA).(*dns.SOA), Del: del, Add: add}
}

// Catch returns z brought up to the journal's last serial when the
// journal runs one change ahead of it — a crash after the journal was
// written and before the zone file was: each change is journalled, then
// saved, before the next begins, so a crash leaves the file at most one
// change behind — z itself when they agree, and false otherwise (the file
// was put back or edited: its history is not the journal's).
func (j *Journal) Catch(z *zones.Zone) (*zones.Zone, bool, error) {
	if last, ok := j.Last(); !ok || last == z.SOA.Serial {
		return z, true, nil
	}
	es, ok := j.Since(z.SOA.Serial)
	if !ok || len(es) != 1 {
		return z, false, nil
	}
	nz, err := z.Patch(es[0].Del, es[0].Add, es[0].New)
	if err != nil {
		return z, false, err
	}
	return nz, true, nil
}
