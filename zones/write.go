package zones

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// WriteText writes z as an RFC 1035 master file that dnsd and BIND's
// named-checkzone load: $ORIGIN, the SOA first, then every record in
// canonical order, one per line, with absolute names. Comments of the
// file z was loaded from are not kept.
func (z *Zone) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "; zone %s, serial %d, written by dnsd after a change through its admin API.\n", z.Origin, z.SOA.Serial)
	fmt.Fprintf(bw, "; One record per line, names absolute; comments of the original file are not kept.\n")
	fmt.Fprintf(bw, "$ORIGIN %s\n", z.Origin)
	fmt.Fprintln(bw, z.SOA.String())
	for _, rr := range z.Records() {
		if rr.Header().Rrtype == dns.TypeSOA {
			continue
		}
		line := rr.String()
		if strings.ContainsAny(line, "\n\r") { // cannot come from the parser; never write a second record by accident
			return fmt.Errorf("zone %s: record %q spans lines", z.Origin, line)
		}
		fmt.Fprintln(bw, line)
	}
	return bw.Flush()
}

// OnDisk reports whether z was loaded from a file (not the embedded demo),
// so a change can be saved back to it.
func (z *Zone) OnDisk() bool { return z.File != "" && !strings.HasPrefix(z.File, "embedded:") }

// Save writes z to path atomically: a temporary file in the same
// directory, fsync, rename over path, fsync of the directory. A reader (or
// a crash) sees the old file or the new one, never a part. The file keeps
// its permissions; a symbolic link is followed, not replaced.
func (z *Zone) Save(path string) error {
	var buf bytes.Buffer
	if err := z.WriteText(&buf); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

func writeAtomic(path string, data []byte) (err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing zone file %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp, path, err)
	}
	d, derr := os.Open(dir)
	if derr != nil {
		return fmt.Errorf("opening %s to fsync it: %w", dir, derr)
	}
	defer d.Close()
	if derr := d.Sync(); derr != nil {
		return fmt.Errorf("fsync %s: %w", dir, derr)
	}
	return nil
}

// Seed copies the embedded demo zones into dir when it holds no *.zone
// file yet, creating dir if need be, so a daemon pointed at dir
// (zones.dir) serves the demo and can save changes to it. It returns the
// files written: none when dir already had zones (they are never
// overwritten).
func Seed(dir string) ([]string, error) {
	have, err := filepath.Glob(filepath.Join(dir, "*.zone"))
	if err != nil {
		return nil, fmt.Errorf("zones dir %s: %w", dir, err)
	}
	if len(have) > 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating zones dir %s: %w", dir, err)
	}
	var written []string
	for _, name := range EmbeddedFiles() {
		data, err := EmbeddedFile(name)
		if err != nil {
			return written, fmt.Errorf("embedded zone %s: %w", name, err)
		}
		p := filepath.Join(dir, name)
		if err := writeAtomic(p, data); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}
