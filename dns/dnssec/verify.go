package dnssec

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The validator core (RFC 4035 §5): checks of one RRset against its
// signatures and keys, of a DNSKEY RRset against the DS records that vouch
// for it, and of NSEC denial proofs. The resolver walks the chain and
// calls these; they read no network and no clock of their own.

// BogusError says why data failed validation, with the Extended DNS Error
// code (RFC 8914) to report it by.
type BogusError struct {
	Code   uint16
	Reason string
}

func (e *BogusError) Error() string { return "DNSSEC bogus: " + e.Reason }

// IsBogus reports whether err is (or wraps) a *BogusError, and returns it.
func IsBogus(err error) (*BogusError, bool) {
	var b *BogusError
	ok := errors.As(err, &b)
	return b, ok
}

func bogus(code uint16, format string, args ...any) *BogusError {
	return &BogusError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Sigs returns the RRSIGs in rrs that cover type t at owner name.
func Sigs(rrs []dns.RR, name string, t uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, rr := range rrs {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered == t && strings.EqualFold(s.Hdr.Name, name) {
			out = append(out, s)
		}
	}
	return out
}

// RRsetOf turns RRSIGs back into records (to adjust their TTLs).
func RRsetOf(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}

// RRset returns the records of rrs with owner name and type t.
func RRset(rrs []dns.RR, name string, t uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == t && strings.EqualFold(h.Name, name) {
			out = append(out, rr)
		}
	}
	return out
}

// Verified is the result of a successful check: the signature that
// verified, and until when (its expiration: a cache must not keep the
// data longer, RFC 4035 §5.3.3).
type Verified struct {
	Sig     *dns.RRSIG
	Expires time.Time
}

// VerifyRRset checks that one of sigs, made by one of keys for the zone
// signer, verifies rrs at now, trying every key with a signature's key
// tag. The error says why none did: no signature, no matching key,
// expired, not yet valid, a bad signature, or more checks than
// maxSignatureChecks.
func VerifyRRset(rrs []dns.RR, sigs []*dns.RRSIG, keys []*dns.DNSKEY, signer string, now time.Time) (Verified, error) {
	if len(rrs) == 0 {
		return Verified{}, errors.New("no records to verify")
	}
	h := rrs[0].Header()
	what := h.Name + " " + dns.TypeToString[h.Rrtype]
	if len(sigs) == 0 {
		return Verified{}, bogus(dns.ExtendedErrorCodeRRSIGsMissing, "%s has no RRSIG", what)
	}
	var last *BogusError
	checks := 0
	for _, s := range sigs {
		if !strings.EqualFold(s.SignerName, signer) {
			last = bogus(dns.ExtendedErrorCodeDNSBogus, "%s: RRSIG by %s, want a signature of zone %s", what, s.SignerName, signer)
			continue
		}
		cands, named := keysOf(s, keys)
		if !named {
			last = bogus(dns.ExtendedErrorCodeDNSKEYMissing, "%s: RRSIG by key %d (algorithm %d) of %s, which is not in its DNSKEY set", what, s.KeyTag, s.Algorithm, signer)
			continue
		}
		if len(cands) == 0 {
			last = bogus(dns.ExtendedErrorCodeNoZoneKeyBitSet, "%s: key %d of %s has no zone key bit", what, s.KeyTag, signer)
			continue
		}
		if !s.ValidityPeriod(now) {
			exp, inc := sigTime(s.Expiration, now), sigTime(s.Inception, now)
			if now.Before(inc) {
				last = bogus(dns.ExtendedErrorCodeSignatureNotYetValid, "%s: RRSIG by key %d not valid before %s", what, s.KeyTag, inc.UTC().Format(time.RFC3339))
			} else {
				last = bogus(dns.ExtendedErrorCodeSignatureExpired, "%s: RRSIG by key %d expired at %s", what, s.KeyTag, exp.UTC().Format(time.RFC3339))
			}
			continue
		}
		for _, key := range cands {
			if checks == maxSignatureChecks {
				return Verified{}, bogus(dns.ExtendedErrorCodeDNSBogus, "%s: no signature verified in %d checks, the most one RRset gets", what, checks)
			}
			checks++
			if err := s.Verify(key, rrs); err != nil {
				last = bogus(dns.ExtendedErrorCodeDNSBogus, "%s: RRSIG by key %d does not verify: %v", what, s.KeyTag, err)
				continue
			}
			return Verified{Sig: s, Expires: sigTime(s.Expiration, now)}, nil
		}
	}
	return Verified{}, last
}

// maxSignatureChecks bounds the signature checks one RRset costs: a zone
// can publish many keys with one key tag and many RRSIGs (KeyTrap,
// CVE-2023-50387); an honest zone needs two or three.
const maxSignatureChecks = 8

// keysOf returns the zone keys that may have made s: every key with its
// key tag and algorithm, since a key tag is a checksum, not a name (RFC
// 4034 Appendix B: two keys of a zone can share one, and a validator must
// try each). named says whether any key had the tag, zone key or not.
func keysOf(s *dns.RRSIG, keys []*dns.DNSKEY) (zoneKeys []*dns.DNSKEY, named bool) {
	for _, k := range keys {
		if k.KeyTag() != s.KeyTag || k.Algorithm != s.Algorithm {
			continue
		}
		named = true
		if k.Flags&dns.ZONE != 0 {
			zoneKeys = append(zoneKeys, k)
		}
	}
	return zoneKeys, named
}

// sigTime turns an RRSIG time (seconds, serial arithmetic, RFC 4034
// §3.1.5) into the time nearest to now.
func sigTime(t uint32, now time.Time) time.Time {
	d := int64(int32(t - uint32(now.Unix())))
	return now.Add(time.Duration(d) * time.Second)
}

// VerifyKeys checks a zone's DNSKEY RRset against the DS records that the
// parent (or the trust anchor) holds for it: a key matching a DS must
// have signed the set. It returns the zone keys.
func VerifyKeys(zone string, keySet []dns.RR, sigs []*dns.RRSIG, ds []*dns.DS, now time.Time) ([]*dns.DNSKEY, Verified, error) {
	var keys []*dns.DNSKEY
	for _, rr := range keySet {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, Verified{}, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "%s has no DNSKEY records", zone)
	}
	var trusted []*dns.DNSKEY
	for _, k := range keys {
		for _, d := range ds {
			if d.KeyTag != k.KeyTag() || d.Algorithm != k.Algorithm {
				continue
			}
			if c := k.ToDS(d.DigestType); c != nil && strings.EqualFold(c.Digest, d.Digest) {
				trusted = append(trusted, k)
			}
		}
	}
	if len(trusted) == 0 {
		tags := make([]string, len(ds))
		for i, d := range ds {
			tags[i] = fmt.Sprint(d.KeyTag)
		}
		return nil, Verified{}, bogus(dns.ExtendedErrorCodeDNSKEYMissing, "no DNSKEY of %s matches its DS records (key tags %s)", zone, strings.Join(tags, ", "))
	}
	v, err := VerifyRRset(keySet, sigs, trusted, zone, now)
	if err != nil {
		return nil, Verified{}, err
	}
	return keys, v, nil
}
