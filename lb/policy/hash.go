package policy

import (
	"math"

	"netsim/lb/backend"
)

// Hash is weighted rendezvous hashing (highest random weight, as Caddy's
// hash selectors): for a key, every available backend gets the score
// weight / -ln(u), where u in (0,1) is a hash of the key and the backend's
// id, and the highest score wins. Everything is computed from the
// backends passed in, so there is nothing to cache and nothing to go
// stale when backends come and go. Adding an nth backend moves about 1/n
// of the keys (those it now wins); taking one out moves only its own
// keys. A backend with weight w wins about w/Σw of the keys.
//
// The key is Hint.Key when set (header_hash, cookie_hash), else the
// client address (source_ip_hash); with neither, Hash falls back to round
// robin, as HAProxy does for a missing header.
type Hash struct {
	fallback RoundRobin
}

// Pick implements Policy.
func (p *Hash) Pick(bs []*backend.Backend, h Hint) *backend.Backend {
	if len(bs) == 0 {
		return nil
	}
	var key uint64
	switch {
	case h.Key != "":
		key = hashString(h.Key)
	case h.Client.IsValid():
		a := h.Client.Unmap().As16()
		key = hashBytes(a[:])
	default:
		return p.fallback.Pick(bs, h)
	}
	var (
		best      *backend.Backend
		bestW     int
		bestH     uint64
		bestScore float64 // computed only once weights differ
	)
	for _, b := range bs {
		if !b.Available() {
			continue
		}
		w, h := b.Weight(), mix(key^hashString(b.ID()))
		switch {
		case best == nil:
			best, bestW, bestH, bestScore = b, w, h, 0
		case w == bestW && bestScore == 0:
			// Equal weights: the higher hash has the higher score, no
			// logarithm needed (the common case).
			if h > bestH {
				best, bestH = b, h
			}
		default:
			if bestScore == 0 {
				bestScore = score(bestW, bestH)
			}
			if s := score(w, h); s > bestScore {
				best, bestW, bestH, bestScore = b, w, h, s
			}
		}
	}
	return best
}

// score is the rendezvous score of a backend of weight w whose hash with
// the key is h: w / -ln(u) with u = h mapped into (0,1), so that the
// winner is drawn in proportion to weight. The configured weight is used,
// not the slow-start ramp, so that a recovering backend gets its keys
// back at once rather than in steps. It is always above 0.
func score(w int, h uint64) float64 {
	u := (float64(h>>11) + 0.5) / (1 << 53) // in (0,1), never 0 or 1
	return float64(w) / -math.Log(u)
}

// FNV-1a, finished with the splitmix64 mixer for better spread of short,
// similar keys.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func hashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

func hashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}
