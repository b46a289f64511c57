package dnsd

import (
	"net/http"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// Hex fields are case-insensitive (RFC 4034 §5.3 for the DS digest;
// SSHFP, TLSA and the NSEC3PARAM salt alike): the record API accepts the
// lower case ldns-key2ds and ssh-keygen print, stores one case, and
// knows the same record given in the other case for a duplicate.
func TestRecordAPIHexAnyCase(t *testing.T) {
	zd := startZoneDaemon(t, false)
	const digest = "2bb183af5f22588179a53b0a98631fad1a292118ca0e8da0e1f3cc2c1a2a3b5a"
	for _, c := range []struct{ name, typ, data, stored string }{
		{"sub", "DS", "12345 13 2 " + digest, "12345 13 2 " + strings.ToUpper(digest)},
		{"host.lab", "SSHFP", "4 2 " + digest, "4 2 " + strings.ToUpper(digest)},
		{"_443._tcp.www", "TLSA", "3 1 1 " + digest, "3 1 1 " + strings.ToUpper(digest)},
	} {
		t.Run(c.typ, func(t *testing.T) {
			st, _, env := zd.call(t, "POST", zd.base, `{"name":"`+c.name+`","type":"`+c.typ+`","data":"`+c.data+`"}`)
			if st != http.StatusCreated {
				t.Fatalf("POST %s %s with a lower-case hex field: %d %v, want 201", c.typ, c.data, st, env)
			}
			rec := env["data"].(map[string]any)["records"].([]any)[0].(map[string]any)
			if rec["data"] != c.stored {
				t.Errorf("stored data %q, want %q", rec["data"], c.stored)
			}
			// the same record in upper case is already there
			st, _, env = zd.call(t, "POST", zd.base, `{"name":"`+c.name+`","type":"`+c.typ+`","data":"`+c.stored+`"}`)
			if st != http.StatusConflict {
				t.Errorf("POST the same %s in upper case: %d %v, want 409 record_exists", c.typ, st, env)
			}
			// and it is served
			fq := dns.Fqdn(c.name + ".example.test")
			m := new(dns.Msg)
			m.SetQuestion(fq, dns.StringToType[c.typ])
			r, err := dns.Exchange(m, zd.dns)
			if err != nil || len(r.Answer) != 1 {
				t.Fatalf("dig %s %s: %v %v", fq, c.typ, err, r)
			}
		})
	}
}
