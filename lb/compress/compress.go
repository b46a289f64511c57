// Package compress encodes HTTP responses on the fly: br, zstd or gzip,
// negotiated from the request's Accept-Encoding, for compressible types
// above a minimum size, streaming (a body is never held whole). It wraps
// an http.ResponseWriter, so that it sits under any engine that writes
// responses through one.
package compress

import (
	"fmt"
	"mime"
	"slices"
	"strings"

	"netsim/internal/cfgerr"
)

// Config is how a route compresses (lbd's `compress:` block).
type Config struct {
	// Encodings offered, in order of preference: br, zstd, gzip.
	// [br, zstd, gzip]
	Encodings []string `mapstructure:"encodings" json:"encodings"`
	// Level of every encoder, 1 (fastest) to 9 (smallest): gzip's level,
	// brotli's quality, zstd's level mapped to its four speeds. [5]
	Level int `mapstructure:"level" json:"level"`
	// MinSize: a response whose Content-Length is below it goes as it
	// is (an unknown length is compressed). [1024]
	MinSize int64 `mapstructure:"min_size" json:"min_size"`
	// Types are the media types compressed: exact ("application/json"),
	// a whole type ("text/*"), or a structured suffix ("*+json").
	// [text/*, application/json, application/javascript, application/xml,
	// image/svg+xml, application/wasm, *+json, *+xml]
	Types []string `mapstructure:"types" json:"types"`
}

// Defaults of Config.
var (
	DefaultEncodings = []string{Brotli, Zstd, Gzip}
	DefaultTypes     = []string{"text/*", "application/json", "application/javascript", "application/xml",
		"image/svg+xml", "application/wasm", "*+json", "*+xml"}
)

const (
	DefaultLevel   = 5
	DefaultMinSize = 1024
)

// Compressor compresses the responses of one route. It is safe for
// concurrent use; build one per configuration and keep it.
type Compressor struct {
	cfg  Config
	encs *encoders
}

// withDefaults fills the zero fields of cfg.
func (cfg Config) withDefaults() Config {
	if len(cfg.Encodings) == 0 {
		cfg.Encodings = DefaultEncodings
	}
	cfg.Encodings = slices.Clone(cfg.Encodings)
	for i, e := range cfg.Encodings {
		cfg.Encodings[i] = strings.ToLower(e)
	}
	if cfg.Level == 0 {
		cfg.Level = DefaultLevel
	}
	if cfg.MinSize == 0 {
		cfg.MinSize = DefaultMinSize
	}
	if len(cfg.Types) == 0 {
		cfg.Types = DefaultTypes
	}
	return cfg
}

// Check refuses a bad value: the error (a *cfgerr.Error) names the key
// under key ("frontends[0].compress"), the value and what is expected.
func (cfg Config) Check(key string) error {
	cfg = cfg.withDefaults()
	for i, e := range cfg.Encodings {
		if !slices.Contains(preference[:], e) {
			return cfgerr.New(fmt.Sprintf("%s.encodings[%d]", key, i), e, "a coding lbd makes: br, zstd or gzip")
		}
	}
	if cfg.Level < 1 || cfg.Level > 9 {
		return cfgerr.New(key+".level", cfg.Level, "1 (fastest) to 9 (smallest)")
	}
	if cfg.MinSize < 0 {
		return cfgerr.New(key+".min_size", cfg.MinSize, "a size in bytes, 0 or more")
	}
	for i, t := range cfg.Types {
		if !strings.Contains(t, "/") && !strings.HasPrefix(t, "*+") {
			return cfgerr.New(fmt.Sprintf("%s.types[%d]", key, i), t, "a media type: type/subtype, type/* or *+suffix")
		}
	}
	return nil
}

// New checks cfg, fills its defaults, and builds a Compressor.
func New(cfg Config) (*Compressor, error) {
	if err := cfg.Check("compress"); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Compressor{cfg: cfg, encs: newEncoders(cfg.Level)}, nil
}

// Config is the configuration in force, defaults filled in.
func (c *Compressor) Config() Config { return c.cfg }

// Negotiate is the coding for a request with this Accept-Encoding
// (Identity: none).
func (c *Compressor) Negotiate(acceptEncoding string) string {
	return Negotiate(acceptEncoding, c.cfg.Encodings)
}

// compressible reports whether a Content-Type value is one of the
// configured types.
func (c *Compressor) compressible(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, t := range c.cfg.Types {
		switch {
		case strings.HasPrefix(t, "*+"):
			if strings.HasSuffix(mt, t[1:]) {
				return true
			}
		case strings.HasSuffix(t, "/*"):
			if strings.HasPrefix(mt, t[:len(t)-1]) {
				return true
			}
		case mt == t:
			return true
		}
	}
	return false
}
