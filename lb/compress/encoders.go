package compress

import (
	"fmt"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// encoder is one pooled stream encoder.
type encoder interface {
	io.WriteCloser
	Flush() error
	Reset(w io.Writer)
}

// zstdEncoder adapts *zstd.Encoder (whose Reset has the same shape) and
// lets the interface hold it.
type zstdEncoder struct{ *zstd.Encoder }

// encoders keeps reusable encoders per coding: an encoder's tables are
// most of its cost (brotli's and zstd's especially), and a proxy makes
// one per response.
type encoders struct {
	level int
	pools map[string]*sync.Pool
}

func newEncoders(level int) *encoders {
	e := &encoders{level: level, pools: map[string]*sync.Pool{}}
	for _, name := range preference {
		e.pools[name] = &sync.Pool{}
	}
	return e
}

// get is an encoder of coding name writing to w.
func (e *encoders) get(name string, w io.Writer) (encoder, error) {
	p := e.pools[name]
	if p == nil {
		return nil, fmt.Errorf("content coding %q: expected one of br, zstd, gzip", name)
	}
	if enc, ok := p.Get().(encoder); ok {
		enc.Reset(w)
		return enc, nil
	}
	switch name {
	case Gzip:
		return gzip.NewWriterLevel(w, e.level)
	case Brotli:
		return brotli.NewWriterLevel(w, e.level), nil
	default:
		z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(e.level)),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true), zstd.WithWindowSize(1<<20))
		if err != nil {
			return nil, err
		}
		return zstdEncoder{z}, nil
	}
}

// put returns an encoder that was closed.
func (e *encoders) put(name string, enc encoder) {
	enc.Reset(nil)
	e.pools[name].Put(enc)
}

// NewReader decodes a body of coding name (tests and tools: lbd itself
// only encodes).
func NewReader(name string, r io.Reader) (io.ReadCloser, error) {
	switch name {
	case Gzip:
		return gzip.NewReader(r)
	case Brotli:
		return io.NopCloser(brotli.NewReader(r)), nil
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	case Identity, "identity":
		return io.NopCloser(r), nil
	}
	return nil, fmt.Errorf("content coding %q: expected one of br, zstd, gzip, identity", name)
}
