package geo

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// DemoNetwork is one entry of the simulated geography.
type DemoNetwork struct {
	Network   string // CIDR
	Country   string // ISO 3166-1 alpha-2
	Continent string
	City      string
}

// DemoNetworks is the simulated geography that WriteDemoDB writes: three
// loopback "regions" for the netsim topology, and the networks MaxMind's
// own test databases hold (../shared/geoip/README.md), so that a demo with
// `dig +subnet=81.2.69.142/32` finds the same country in either database.
func DemoNetworks() []DemoNetwork {
	return []DemoNetwork{
		{"127.0.10.0/24", "GB", "EU", "London"},
		{"127.0.20.0/24", "US", "NA", "Milton"},
		{"127.0.30.0/24", "JP", "AS", "Tokyo"},
		{"81.2.69.142/31", "GB", "EU", "London"},
		{"81.2.69.160/27", "GB", "EU", "London"},
		{"2.125.160.216/29", "GB", "EU", "Boxford"},
		{"89.160.20.112/28", "SE", "EU", "Linköping"},
		{"216.160.83.56/29", "US", "NA", "Milton"},
		{"175.16.199.0/24", "CN", "AS", "Changchun"},
		{"67.43.156.0/24", "BT", "AS", ""},
		{"202.196.224.0/20", "PH", "AS", ""},
		{"2001:218::/32", "JP", "AS", ""},
		{"2001:220::/32", "KR", "AS", ""},
	}
}

var continentNames = map[string]string{
	"AF": "Africa", "AN": "Antarctica", "AS": "Asia", "EU": "Europe",
	"NA": "North America", "OC": "Oceania", "SA": "South America",
}

// WriteDemoDB writes the simulated geography (DemoNetworks) to path as a
// GeoLite2-City-layout MaxMind DB that geoip2-golang reads. The file is
// written beside path and renamed into place, so a MaxMind locator polling
// it never sees half a file.
func WriteDemoDB(path string) error {
	return WriteDB(path, DemoNetworks())
}

// WriteDB writes networks as a City-layout database (tests build their
// fixtures with it). Loopback and other reserved ranges are allowed:
// mmdbwriter refuses them unless IncludeReservedNetworks is set.
func WriteDB(path string, networks []DemoNetwork) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-City",
		Description:             map[string]string{"en": "netsim simulated geography"},
		Languages:               []string{"en"},
		IncludeReservedNetworks: true,
		RecordSize:              24,
	})
	if err != nil {
		return fmt.Errorf("demo geoip database: %w", err)
	}
	for _, n := range networks {
		_, ipnet, err := net.ParseCIDR(n.Network)
		if err != nil {
			return fmt.Errorf("demo geoip database: network %q: %w", n.Network, err)
		}
		if err := tree.Insert(ipnet, cityRecord(n)); err != nil {
			return fmt.Errorf("demo geoip database: inserting %s: %w", n.Network, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return fmt.Errorf("demo geoip database: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

func cityRecord(n DemoNetwork) mmdbtype.Map {
	country := mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}
	rec := mmdbtype.Map{
		"country":            country,
		"registered_country": country,
	}
	if n.Continent != "" {
		cont := mmdbtype.Map{"code": mmdbtype.String(n.Continent)}
		if name, ok := continentNames[n.Continent]; ok {
			cont["names"] = mmdbtype.Map{"en": mmdbtype.String(name)}
		}
		rec["continent"] = cont
	}
	if n.City != "" {
		rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
	}
	return rec
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("demo geoip database: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("demo geoip database: writing %s: %w", path, werr)
	}
	return nil
}
