//go:build !linux

package lb

import (
	"errors"
	"time"
)

// parker is Linux-only (epoll); elsewhere idle connections keep their
// goroutine and buffer.
type parker struct{}

func newParker(*engine) (*parker, error) { return nil, errors.New("parking needs epoll (Linux)") }

func (p *parker) add(*fastConn, time.Time) error { return errors.New("no parker") }
func (p *parker) take(*fastConn)                 {}
func (p *parker) stop()                          {}
