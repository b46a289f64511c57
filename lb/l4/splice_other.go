//go:build !linux

package l4

import (
	"errors"
	"io"
	"net"
)

var errNoPipe = errors.New("no splice pipe")

// pipePool has nothing to pool where there is no splice(2).
type pipePool struct{}

func (*pipePool) close() {}

// spliceCopy is io.Copy where there is no splice(2) (it may still use
// the platform's own fast path, e.g. sendfile).
func spliceCopy(_ *pipePool, dst, src *net.TCPConn, limit int64) (int64, error) {
	return io.Copy(dst, &io.LimitedReader{R: src, N: limit})
}
