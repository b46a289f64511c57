package tls

import (
	"os"
	"path/filepath"
	"testing"
)

// TestPlanWritesNothing: PlanPKI and Store.Prepare change nothing until
// Write and Commit (issue 9, defect 3: a reload builds off to the side).
func TestPlanWritesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	plan, err := PlanPKI(PKIOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("PlanPKI touched %s: %v", dir, err)
	}
	if !plan.PKI.CreatedCA || !plan.PKI.IssuedLeaf || plan.Server == nil || plan.Server.CertFile != plan.PKI.Cert {
		t.Fatalf("plan %+v", plan.PKI)
	}
	// a store serves the planned leaf before its files exist
	other := newFixture(t).issue("other.example.test", LeafOptions{Names: []string{"other.example.test"}})
	s, err := NewStore([]Pair{other}, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Prepare([]Pair{{Cert: plan.PKI.Cert, Key: plan.PKI.Key, Default: true}, other}, plan.Server)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := s.Lookup("www.example.test"); c.CertFile != other.Cert {
		t.Fatalf("Prepare changed what the store serves: %s", c.CertFile)
	}
	if err := plan.Write(); err != nil {
		t.Fatal(err)
	}
	u.Commit()
	if c, ok := s.Lookup("www.example.test"); !ok || c.CertFile != plan.PKI.Cert {
		t.Fatalf("after Commit: %s %v", c.CertFile, ok)
	}
	again, err := PlanPKI(PKIOptions{Dir: dir})
	if err != nil || again.PKI.CreatedCA || again.PKI.IssuedLeaf || len(again.writes) != 0 {
		t.Fatalf("second plan: %+v %v", again.PKI, err)
	}
}
