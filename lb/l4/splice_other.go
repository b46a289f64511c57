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

// splicer is io.Copy where there is no splice(2) (it may still use the
// platform's own fast path, e.g. sendfile).
type splicer struct{ dst, src *net.TCPConn }

func (c *splicer) init(_ *pipePool, dst, src *net.TCPConn) error {
	c.dst, c.src = dst, src
	return nil
}

func (c *splicer) copy(limit int64) (int64, error) {
	return io.Copy(c.dst, &io.LimitedReader{R: c.src, N: limit})
}
