// Package filewatch notices when files change, by polling: a Stamp is a
// version of a file (size, modification time and identity, following
// symlinks), and Poll runs a function every interval until its context
// ends. Polling, unlike inotify, also sees a file replaced by rename (the
// way geoipupdate installs a database and editors save) and a symlink
// swapped (Kubernetes secrets). The caller compares stamps and reloads;
// it owns the goroutine that runs Poll.
package filewatch

import (
	"context"
	"os"
	"time"

	"netsim/internal/tick"
)

// Stamp identifies one version of a file without reading it. Two stamps
// are equal (==) when the file has not visibly changed; a file that cannot
// be read has the error's text instead.
type Stamp struct {
	Size  int64
	MTime int64  // Unix nanoseconds
	Inode uint64 // 0 where the platform has none
	Err   string // the stat error, "" when the file exists
}

// Stat stamps path (following symlinks).
func Stat(path string) Stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return Stamp{Err: err.Error()}
	}
	return Of(fi)
}

// Of stamps a file already stat'ed.
func Of(fi os.FileInfo) Stamp {
	return Stamp{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Inode: inode(fi)}
}

// OK reports whether the file existed when stamped.
func (s Stamp) OK() bool { return s.Err == "" }

// Poll calls check every interval (def when interval ≤ 0) until ctx is
// done; it returns then. check runs on Poll's goroutine, one call at a
// time: it stats its files, compares their stamps with the last ones and
// reloads what changed.
func Poll(ctx context.Context, interval, def time.Duration, check func()) {
	if interval <= 0 {
		interval = def
	}
	tick.Every(ctx, interval, check)
}
