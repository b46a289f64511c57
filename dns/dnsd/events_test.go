package dnsd

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"netsim/internal/testutil"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func startDaemon(t *testing.T, log *zap.Logger) *Daemon {
	t.Helper()
	c, err := Load(writeFile(t, "admin:\n  listen: 127.0.0.1:0\nservers:\n  - listen: 127.0.0.1:0\n    zones: [example.test.]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(c, log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, d)
	return d
}

// A dig-like query shows up on the admin event stream as dns.query, and
// the daemon still shuts down with the stream open (Cleanup).
func TestQueryOnEventStream(t *testing.T) {
	d := startDaemon(t, zap.NewNop())
	resp, err := http.Get("http://" + d.AdminAddr() + "/api/v1/events?types=dns.query")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	testutil.WaitFor(t, "the stream to subscribe", time.Minute, d.events.Active)
	addr := d.Listeners()["127.0.0.1:0"]
	exchange(t, addr, "www.example.test.")
	br := bufio.NewReader(resp.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if e["type"] != "dns.query" || e["name"] != "www.example.test." || e["qtype"] != "A" || e["source"] != "auth" ||
			e["server"] != "127.0.0.1:0" || e["proto"] != "udp" || e["rcode"] != "NOERROR" || e["answers"] == nil {
			t.Fatalf("event %s", data)
		}
		if _, err := time.Parse(time.RFC3339Nano, e["time"].(string)); err != nil {
			t.Fatalf("time: %v", err)
		}
		return
	}
}

func TestQueryLogSwitch(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	d := startDaemon(t, zap.New(core))
	base := "http://" + d.AdminAddr() + "/api/v1/querylog"
	addr := d.Listeners()["127.0.0.1:0"]
	queryLines := func() int { return logs.FilterMessage("query").Len() }
	exchange(t, addr, "www.example.test.")
	if queryLines() != 0 {
		t.Fatal("query log on by default")
	}
	call := func(method, body, token string) (int, string) { return testutil.Call(t, method, base, body, token) }
	if code, body := call(http.MethodGet, "", ""); code != 200 || !strings.Contains(body, `"enabled": false`) {
		t.Fatalf("GET: %d %s", code, body)
	}
	if code, _ := call(http.MethodPatch, `{"enabled":true}`, ""); code != http.StatusUnauthorized {
		t.Fatalf("PATCH without token: %d", code)
	}
	if code, body := call(http.MethodPatch, `{"sample":1.5}`, d.Token()); code != http.StatusUnprocessableEntity || !strings.Contains(body, "sample") {
		t.Fatalf("PATCH sample 1.5: %d %s", code, body)
	}
	if code, body := call(http.MethodPatch, `{"enabled":true,"sample":1}`, d.Token()); code != 200 || !strings.Contains(body, `"enabled": true`) {
		t.Fatalf("PATCH on: %d %s", code, body)
	}
	exchange(t, addr, "www.example.test.")
	if queryLines() != 1 {
		t.Fatalf("%d query lines after one query with the log on", queryLines())
	}
	if f := logs.FilterMessage("query").All()[0].ContextMap(); f["name"] != "www.example.test." {
		t.Fatalf("line %v", f)
	}
	call(http.MethodPatch, `{"enabled":false}`, d.Token())
	exchange(t, addr, "www.example.test.")
	if queryLines() != 1 {
		t.Fatal("query logged after the log was switched off")
	}
}
