package world

// View is the world as the admin API and the live page show it.
type View struct {
	Flat   bool        `json:"flat"`
	Places []PlaceView `json:"places"`
	// Links holds each pair of places once (a ≤ b in place order),
	// including a place with itself.
	Links []LinkView `json:"links"`
	// RTTms is the matrix of round-trip times in milliseconds, by place
	// name, for reading at a glance.
	RTTms map[string]map[string]float64 `json:"rtt_ms"`
}

// PlaceView is one place.
type PlaceView struct {
	Name     string   `json:"name"`
	Prefixes []string `json:"prefixes"`
}

// LinkView is one link, with its units spelled out.
type LinkView struct {
	A            string  `json:"a,omitempty"`
	B            string  `json:"b,omitempty"`
	Latency      string  `json:"latency"` // one way
	LatencyMs    float64 `json:"latency_ms"`
	Jitter       string  `json:"jitter"`
	LossPercent  float64 `json:"loss_percent"`
	Bandwidth    string  `json:"bandwidth"`
	BandwidthBps int64   `json:"bandwidth_bps"` // bits per second; 0 is unlimited
	RTTms        float64 `json:"rtt_ms"`
	Overridden   bool    `json:"overridden"` // changed at run time; DELETE restores it
}

func viewLink(a, b string, l Link, overridden bool) LinkView {
	return LinkView{
		A: a, B: b,
		Latency: l.Latency.String(), LatencyMs: ms(l.Latency),
		Jitter:      l.Jitter.String(),
		LossPercent: l.Loss * 100,
		Bandwidth:   l.Bandwidth.String(), BandwidthBps: int64(l.Bandwidth),
		RTTms:      2 * ms(l.Latency),
		Overridden: overridden,
	}
}

func ms[T ~int64](d T) float64 { return float64(d) / 1e6 }

// View returns the world in force.
func (w *World) View() View {
	v := View{Flat: w.Flat(), Places: []PlaceView{}, Links: []LinkView{}, RTTms: map[string]map[string]float64{}}
	if v.Flat {
		return v
	}
	m := w.cur.Load()
	for i, p := range m.places {
		pv := PlaceView{Name: p.Name}
		for _, pfx := range p.Prefixes {
			pv.Prefixes = append(pv.Prefixes, pfx.String())
		}
		v.Places = append(v.Places, pv)
		row := map[string]float64{}
		for j, q := range m.places {
			row[q.Name] = 2 * ms(m.at(i, j).Latency)
			if j >= i {
				l := m.at(i, j)
				v.Links = append(v.Links, viewLink(p.Name, q.Name, l, l != w.base.at(i, j)))
			}
		}
		v.RTTms[p.Name] = row
	}
	return v
}

// LinkView returns one link as the admin API shows it.
func (w *World) LinkView(a, b string) (LinkView, error) {
	l, err := w.Link(a, b)
	if err != nil {
		return LinkView{}, err
	}
	return viewLink(a, b, l, w.Overridden(a, b)), nil
}
