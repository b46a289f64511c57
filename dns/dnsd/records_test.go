package dnsd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"netsim/internal/testutil"
	"netsim/zones"
)

// zoneDaemon runs a dnsd serving the demo zones seeded into a temporary
// zones dir (or the embedded ones with embedded=true) on 127.0.0.1:0.
type zoneDaemon struct {
	d    *Daemon
	dir  string
	dns  string // listener serving example.test.
	base string // admin URL
}

func startZoneDaemon(t *testing.T, embedded bool) *zoneDaemon {
	t.Helper()
	zd := &zoneDaemon{}
	cfgText := "admin:\n  listen: 127.0.0.1:0\n  token: secret\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test., test.]\n    rrl: off\n" // TestRecordWritesSerialised reads in a tight loop
	if !embedded {
		zd.dir = filepath.Join(t.TempDir(), "zones")
		if _, err := zones.Seed(zd.dir); err != nil {
			t.Fatal(err)
		}
		cfgText += "zones:\n  dir: " + zd.dir + "\n"
	}
	zd.d = newDaemon(t, cfgText)
	start(t, zd.d)
	zd.dns = zd.d.Listeners()["127.0.0.1:0"]
	zd.base = "http://" + zd.d.AdminAddr() + "/api/v1/zones/example.test./records"
	return zd
}

// call sends an admin request with the token; it returns the status, the
// headers and the decoded envelope.
func (zd *zoneDaemon) call(t *testing.T, method, target, body string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, b := testutil.Fetch(t, method, target, body, "secret")
	var env map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal([]byte(b), &env); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, target, b)
		}
	}
	return resp.StatusCode, resp.Header, env
}

// create POSTs a record to example.test., which must answer 201, and
// returns the answer's data.
func (zd *zoneDaemon) create(t *testing.T, body string) map[string]any {
	t.Helper()
	st, _, env := zd.call(t, "POST", zd.base, body)
	data, _ := env["data"].(map[string]any)
	if st != http.StatusCreated || data == nil {
		t.Fatalf("POST %s: %d %v, want 201 with data", body, st, env)
	}
	return data
}

func (zd *zoneDaemon) serial(t *testing.T) uint32 {
	t.Helper()
	for _, z := range zd.d.Zones() {
		if z.Origin == "example.test." {
			return z.SOA.Serial
		}
	}
	t.Fatal("example.test. not loaded")
	return 0
}

// addrs asks the DNS listener for name's A records (sorted), or the rcode.
func (zd *zoneDaemon) addrs(t *testing.T, name string) []string {
	t.Helper()
	r := exchange(t, zd.dns, name)
	if r.Rcode != dns.RcodeSuccess {
		return []string{dns.RcodeToString[r.Rcode]}
	}
	var out []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	slices.Sort(out)
	return out
}

func checkFile(t *testing.T, dir string, wantSerial uint32) *zones.Zone {
	t.Helper()
	p := filepath.Join(dir, "example.test.zone")
	zs, err := zones.LoadFiles([]zones.Source{{File: p}})
	if err != nil {
		t.Fatalf("dnsd cannot load the file it wrote: %v", err)
	}
	if zs[0].SOA.Serial != wantSerial {
		t.Fatalf("file serial %d, want %d", zs[0].SOA.Serial, wantSerial)
	}
	if bin, err := exec.LookPath("named-checkzone"); err == nil {
		if out, err := exec.Command(bin, "-q", "-k", "fail", "-m", "fail", "-M", "fail", "-S", "fail", "example.test.", p).CombinedOutput(); err != nil {
			t.Fatalf("named-checkzone refuses the written file: %v\n%s", err, out)
		}
	}
	return zs[0]
}

func num(v any) uint32 { f, _ := v.(float64); return uint32(f) }

// TestRecordAPI: a record added, replaced and removed through the admin
// API is answered (or not) by the DNS listener at once, the serial moves on
// each time, and the file on disk follows, loadable by dnsd and BIND.
func TestRecordAPI(t *testing.T) {
	zd := startZoneDaemon(t, false)
	s0 := zd.serial(t)
	before := time.Now()

	st, hdr, env := zd.call(t, "POST", zd.base, `{"name":"new","type":"A","ttl":60,"data":"127.0.0.99"}`)
	if st != http.StatusCreated {
		t.Fatalf("POST: %d %v", st, env)
	}
	if loc := hdr.Get("Location"); loc != "/api/v1/zones/example.test./records?name=new.example.test.&type=A" {
		t.Errorf("Location %q", loc)
	}
	data := env["data"].(map[string]any)
	s1 := num(data["serial"])
	if !zones.SerialLess(s0, s1) || zones.SerialLess(s1, zones.NextSerial(s0, before)) || data["persisted"] != true {
		t.Fatalf("POST answer: serial %d after %d, persisted %v", s1, s0, data["persisted"])
	}
	if recs := data["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["text"] != "new.example.test.\t60\tIN\tA\t127.0.0.99" {
		t.Fatalf("POST records: %v", recs)
	}
	if got := zd.addrs(t, "new.example.test."); !slices.Equal(got, []string{"127.0.0.99"}) {
		t.Fatalf("dig new.example.test after POST: %v", got)
	}
	// the API and the served answer agree
	st, _, env = zd.call(t, "GET", zd.base+"?name=new&type=A", "")
	if list := env["data"].([]any); st != 200 || len(list) != 1 || list[0].(map[string]any)["data"] != "127.0.0.99" {
		t.Fatalf("GET after POST: %d %v", st, env)
	}
	checkFile(t, zd.dir, s1)

	st, _, env = zd.call(t, "PUT", zd.base, `{"name":"www.example.test.","type":"A","data":["127.0.0.7","127.0.0.8"]}`)
	if st != http.StatusOK {
		t.Fatalf("PUT: %d %v", st, env)
	}
	s2 := num(env["data"].(map[string]any)["serial"])
	if s2 != s1+1 {
		t.Fatalf("serial after PUT %d, want %d", s2, s1+1)
	}
	if got := zd.addrs(t, "www.example.test."); !slices.Equal(got, []string{"127.0.0.7", "127.0.0.8"}) {
		t.Fatalf("dig www after PUT: %v", got)
	}
	f := checkFile(t, zd.dir, s2)
	if n := len(f.RRset("www.example.test.", dns.TypeA)); n != 2 {
		t.Fatalf("file has %d www A records, want 2", n)
	}

	st, _, env = zd.call(t, "DELETE", zd.base+"?name=new&type=A&data=127.0.0.99", "")
	if st != http.StatusNoContent {
		t.Fatalf("DELETE: %d %v", st, env)
	}
	if got := zd.addrs(t, "new.example.test."); !slices.Equal(got, []string{"NXDOMAIN"}) {
		t.Fatalf("dig new after DELETE: %v", got)
	}
	if zd.serial(t) != s2+1 {
		t.Fatalf("serial after DELETE %d, want %d", zd.serial(t), s2+1)
	}
	checkFile(t, zd.dir, s2+1)
	// and the file is what a restart serves
	if b, _ := os.ReadFile(filepath.Join(zd.dir, "example.test.zone")); strings.Contains(string(b), "127.0.0.99") {
		t.Fatal("the deleted record is still in the file")
	}
}

// TestRecordAPIRefuses: bad input is refused with the status REST.md asks
// for and a message that says what to fix; nothing changes, not the
// served data, the serial nor the file.
func TestRecordAPIRefuses(t *testing.T) {
	zd := startZoneDaemon(t, false)
	s0 := zd.serial(t)
	file, _ := os.ReadFile(filepath.Join(zd.dir, "example.test.zone"))
	cases := []struct {
		name, method, query, body string
		status                    int
		want                      string
	}{
		{"CNAME and other data", "POST", "", `{"name":"www","type":"CNAME","data":"ns1"}`, 422, "CNAME and other data (A) at the same name"},
		{"data at a CNAME", "POST", "", `{"name":"alias","type":"TXT","data":"\"x\""}`, 422, "CNAME and other data"},
		{"out of zone", "POST", "", `{"name":"www.example.org.","type":"A","data":"192.0.2.1"}`, 422, "out of zone example.test."},
		{"bad address", "POST", "", `{"name":"new","type":"A","data":"300.1.1.1"}`, 422, `A record: \"300.1.1.1\" is not an IPv4 address`},
		{"MX without preference", "POST", "", `{"name":"new","type":"MX","data":"mx1"}`, 422, "is not a preference"},
		{"name server loses its address", "DELETE", "?name=ns1&type=A", "", 422, "ns1.example.test. has no A or AAAA"},
		{"the SOA", "DELETE", "?name=@&type=SOA", "", 422, "exactly one SOA"},
		{"TTL too large", "POST", "", `{"name":"new","type":"A","ttl":4294967295,"data":"192.0.2.1"}`, 422, "at most 2147483647"},
		{"unknown type", "POST", "", `{"name":"new","type":"BOGUS","data":"1"}`, 400, `type \"BOGUS\" is not a record type`},
		{"no name", "POST", "", `{"type":"A","data":"192.0.2.1"}`, 400, `field \"name\" is missing`},
		{"no data", "PUT", "", `{"name":"www","type":"A","data":[]}`, 400, `field \"data\" is missing or empty`},
		{"data of the wrong shape", "POST", "", `{"name":"www","type":"A","data":5}`, 400, "must be a string or a list of strings"},
		{"unknown field", "POST", "", `{"name":"www","type":"A","data":"192.0.2.1","class":"IN"}`, 400, `unknown field \"class\"`},
		{"already there", "POST", "", `{"name":"@","type":"A","data":"127.0.0.1"}`, 409, "already in the zone"},
		{"delete what is not there", "DELETE", "?name=nope&type=A", "", 404, "no such record"},
		{"delete without type", "DELETE", "?name=www", "", 400, "DELETE needs ?name="},
		{"unknown zone", "POST", "", `{"name":"x","type":"A","data":"192.0.2.1"}`, 404, "no zone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := zd.base + c.query
			if c.name == "unknown zone" {
				target = strings.Replace(zd.base, "example.test.", "nope.test.", 1)
			}
			st, _, env := zd.call(t, c.method, target, c.body)
			b, _ := json.Marshal(env)
			if st != c.status || !strings.Contains(string(b), c.want) {
				t.Fatalf("%d %s, want %d saying %q", st, b, c.status, c.want)
			}
		})
	}
	if zd.serial(t) != s0 {
		t.Fatalf("serial moved from %d to %d on refused changes", s0, zd.serial(t))
	}
	if now, _ := os.ReadFile(filepath.Join(zd.dir, "example.test.zone")); string(now) != string(file) {
		t.Fatal("a refused change rewrote the zone file")
	}
	if got := zd.addrs(t, "www.example.test."); !slices.Equal(got, []string{"127.0.10.1", "127.0.20.1", "127.0.30.1"}) {
		t.Fatalf("www after refusals: %v", got)
	}
	// without the token: 401
	if st, _ := testutil.Call(t, "POST", zd.base, `{"name":"new","type":"A","data":"192.0.2.1"}`, ""); st != http.StatusUnauthorized {
		t.Fatalf("POST without a token: %d", st)
	}
}

// TestRecordAPIWarnings: a change the zone accepts with a lint warning is
// applied and the warning comes back.
func TestRecordAPIWarnings(t *testing.T) {
	zd := startZoneDaemon(t, false)
	ws := fmt.Sprint(zd.create(t, `{"name":"lint","type":"MX","data":"10 alias"}`)["warnings"])
	if !strings.Contains(ws, "target alias.example.test. is a CNAME") {
		t.Fatalf("warnings %s", ws)
	}
}

// TestRecordWritesSerialised: concurrent writers each get their change in
// and their own serial, and a DNS client reading during PUTs sees the old
// RRset or the new one, never a mix.
func TestRecordWritesSerialised(t *testing.T) {
	zd := startZoneDaemon(t, false)
	s0 := zd.serial(t)
	const writers = 16
	sets := [][]string{{"127.0.0.21", "127.0.0.22"}, {"127.0.0.31", "127.0.0.32"}}
	if st, _, env := zd.call(t, "PUT", zd.base, `{"name":"flip","type":"A","ttl":5,"data":["127.0.0.21","127.0.0.22"]}`); st != 200 {
		t.Fatalf("%d %v", st, env)
	}
	stop := make(chan struct{})
	var readerErr error
	readerDone := make(chan struct{})
	reads := 0
	go func() {
		defer close(readerDone)
		c := &dns.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			m := new(dns.Msg)
			m.SetQuestion("flip.example.test.", dns.TypeA)
			r, _, err := c.Exchange(m, zd.dns)
			if err != nil {
				readerErr = err
				return
			}
			var got []string
			for _, rr := range r.Answer {
				got = append(got, rr.(*dns.A).A.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, sets[0]) && !slices.Equal(got, sets[1]) {
				readerErr = fmt.Errorf("read a half-changed RRset %v", got)
				return
			}
			reads++
		}
	}()
	var wg sync.WaitGroup
	serials := make([]uint32, writers)
	errs := make([]string, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := fmt.Sprintf(`{"name":"w%d","type":"A","data":"127.0.1.%d"}`, i, i)
			method := "POST"
			if i%2 == 1 {
				method, body = "PUT", fmt.Sprintf(`{"name":"flip","type":"A","data":["%s","%s"]}`, sets[i/2%2][0], sets[i/2%2][1])
			}
			st, _, env := zd.call(t, method, zd.base, body)
			if st != 200 && st != 201 {
				errs[i] = fmt.Sprintf("%s: %d %v", method, st, env)
				return
			}
			serials[i] = num(env["data"].(map[string]any)["serial"])
		}(i)
	}
	wg.Wait()
	close(stop)
	<-readerDone
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	slices.Sort(serials)
	if len(slices.Compact(slices.Clone(serials))) != writers {
		t.Fatalf("serials %v: two writers got the same one", serials)
	}
	last := zd.serial(t)
	if last != serials[writers-1] || serials[writers-1]-serials[0] != writers-1 || !zones.SerialLess(s0, serials[0]) {
		t.Fatalf("serials %v, zone %d, start %d: want %d consecutive ones after the start", serials, last, s0, writers)
	}
	f := checkFile(t, zd.dir, last)
	for i := 0; i < writers; i += 2 {
		name := fmt.Sprintf("w%d.example.test.", i)
		if len(f.RRset(name, dns.TypeA)) != 1 || !slices.Equal(zd.addrs(t, name), []string{fmt.Sprintf("127.0.1.%d", i)}) {
			t.Fatalf("%s lost: file %v", name, f.RRset(name, dns.TypeA))
		}
	}
	t.Logf("%d DNS reads during the writes", reads)
}

// TestEmbeddedZonesChangeInMemory: with no zones dir, a change is served
// but not saved, and the answer says so.
func TestEmbeddedZonesChangeInMemory(t *testing.T) {
	zd := startZoneDaemon(t, true)
	data := zd.create(t, `{"name":"new","type":"A","data":"127.0.0.99"}`)
	if data["persisted"] != false || !strings.HasPrefix(data["file"].(string), "embedded:") {
		t.Fatalf("answer %v: want persisted false for an embedded zone", data)
	}
	if got := zd.addrs(t, "new.example.test."); !slices.Equal(got, []string{"127.0.0.99"}) {
		t.Fatalf("dig new: %v", got)
	}
}

// TestRecordSaveFailureChangesNothing: when the zone file cannot be
// written the change is refused whole: not served, serial unchanged.
func TestRecordSaveFailureChangesNothing(t *testing.T) {
	zd := startZoneDaemon(t, false)
	s0 := zd.serial(t)
	if err := os.RemoveAll(zd.dir); err != nil {
		t.Fatal(err)
	}
	st, _, env := zd.call(t, "POST", zd.base, `{"name":"new","type":"A","data":"127.0.0.99"}`)
	b, _ := json.Marshal(env)
	if st != http.StatusInternalServerError || !strings.Contains(string(b), "the change was not applied") || !strings.Contains(string(b), zd.dir) {
		t.Fatalf("%d %s", st, b)
	}
	if got := zd.addrs(t, "new.example.test."); !slices.Equal(got, []string{"NXDOMAIN"}) || zd.serial(t) != s0 {
		t.Fatalf("after a failed save: dig %v, serial %d (was %d)", got, zd.serial(t), s0)
	}
}

// TestHealthzEnvelope: dnsd's /healthz answers in the same JSON envelope
// as lbd's, without a token.
func TestHealthzEnvelope(t *testing.T) {
	zd := startZoneDaemon(t, true)
	resp, b := testutil.Fetch(t, http.MethodGet, "http://"+zd.d.AdminAddr()+"/healthz", "", "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(b, `"status": "ok"`) {
		t.Fatalf("/healthz: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}
