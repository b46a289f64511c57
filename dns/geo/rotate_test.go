package geo

import (
	"net/netip"
	"testing"
)

// When a reply lists every member of an equal-weight pool, successive
// replies rotate which one leads (round-robin, as for zone RRsets).
func TestAllMembersRotate(t *testing.T) {
	cfg := Config{Names: []NameConfig{{Name: "www.example.test.", Answers: 3, Pools: []PoolConfig{{Name: "global",
		Members: []MemberConfig{{Address: "127.0.10.1"}, {Address: "127.0.20.1"}, {Address: "127.0.30.1"}}}}}}}
	e, err := New(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	firsts := map[string]int{}
	prev := ""
	for i := 0; i < 30; i++ {
		r, ok := e.Answer("www.example.test.", 1, netip.MustParseAddr("127.0.0.1"), nil)
		addrs := answerAddrs(r)
		if !ok || len(addrs) != 3 {
			t.Fatalf("answer %v (managed %v)", addrs, ok)
		}
		if addrs[0] == prev {
			t.Fatalf("reply %d leads with %s again", i, prev)
		}
		prev = addrs[0]
		firsts[addrs[0]]++
	}
	for a, n := range firsts {
		if n != 10 {
			t.Errorf("%s led %d of 30 replies, want 10", a, n)
		}
	}
}
