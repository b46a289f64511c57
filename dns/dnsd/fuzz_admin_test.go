package dnsd

import (
	"testing"

	"netsim/internal/testutil"
)

// FuzzRecordBody sends JSON bodies to POST and PUT
// /api/v1/zones/example.test./records (the demo zones, in memory) through
// the admin handler. Whatever the body: no 5xx, the REST.md envelope, a
// 201 with Location whose GET finds the records. Each input starts from
// the same zones (the change is undone after it).
func FuzzRecordBody(f *testing.F) {
	d := newDaemon(f, "")
	h := d.adminHandler()
	auth := map[string]string{"Authorization": "Bearer " + d.Token(), "Content-Type": "application/json"}
	orig := d.zones
	for _, s := range []string{
		`{"name":"new","type":"A","ttl":60,"data":"127.0.0.99"}`,
		`{"name":"www","type":"A","data":["127.0.0.1","127.0.0.2"]}`,
		`{"name":"@","type":"MX","data":"10 mail"}`,
		`{"name":"t","type":"TXT","data":"\"a b\" c"}`,
		`{"name":"x.example.test.","type":"CNAME","data":"www"}`,
		`{"name":"@","type":"SOA","data":"ns1 admin 1 2 3 4 5"}`,
		`{"name":"@","type":"NS","data":[]}`,
		`{"name":"sub","type":"NS","data":"ns.elsewhere.test."}`,
		`{"name":"a","type":"TYPE65280","data":"\\# 2 abcd"}`,
		`{"name":"","type":"A","data":"1.2.3.4"}`,
		`{"name":"a","type":"A","ttl":4294967295,"data":"1.2.3.4"}`,
		`{"name":"a","type":"A","data":"1.2.3.4","extra":1}`,
		`[]`, `{`, `null`,
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, put bool, body string) {
		defer func() { d.mu.Lock(); d.zones = orig; d.mu.Unlock() }()
		method := "POST"
		if put {
			method = "PUT"
		}
		rec := testutil.Do(h, method, "/api/v1/zones/example.test./records", body, auth)
		testutil.Envelope(t, method+" "+body, rec.Code, rec.Body.Bytes())
		if rec.Code == 201 {
			loc := rec.Header().Get("Location")
			if got := testutil.Do(h, "GET", loc, "", nil); got.Code != 200 {
				t.Fatalf("%s %q: 201 with Location %q, whose GET is %d %s", method, body, loc, got.Code, got.Body)
			}
		}
	})
}
