package sim

import (
	"net"
	"net/http"
	"net/netip"

	"netsim/web"
)

// regionLabels name the demo's regions for people.
var regionLabels = map[string]string{"eu": "Europe", "na": "North America", "as": "Asia"}

// liveView puts the live page (package web) in front of the control API:
// the page at /, dnsd's and every lbd's admin API proxied under /dns/ and
// /lb/{name}/, and everything else to control.
func (t *Topology) liveView(control http.Handler) http.Handler {
	t.mu.Lock()
	_, adminPort, err := net.SplitHostPort(t.lbc.Admin.Listen)
	t.mu.Unlock()
	if err != nil {
		adminPort = "8404"
	}
	o := web.Options{
		DNSAdmin: t.dns.AdminAddr(),
		LBAdmins: map[string]string{},
		Control:  control,
		Token:    func() string { return t.token },
		DNSToken: t.dns.Token,
		LBToken:  t.lb.AdminToken,
		Log:      t.log.Named("web"),
	}
	if a := t.lb.AdminAddr(); a != nil {
		o.LBAdmins["lbd"] = a.String()
	}
	for listen, bound := range t.dns.Listeners() {
		for _, s := range t.dns.Config().Servers {
			if s.Listen == listen && s.Recursion && o.Resolver == "" {
				o.Resolver = bound
			}
		}
	}
	for _, r := range t.regions {
		o.LBAdmins["lbd-"+r.Name] = net.JoinHostPort(r.Addr, adminPort)
		if a, err := netip.ParseAddr(r.Addr); err == nil {
			p, _ := a.Prefix(24)
			o.Regions = append(o.Regions, web.Region{Name: r.Name, Label: regionLabels[r.Name], Subnet: p, LB: "lbd-" + r.Name})
		}
	}
	return web.Handler(o)
}
