package lb

import (
	"net/http"

	"go.uber.org/zap"

	"netsim/internal/api"
)

// AccessLogView is the access log's setting, as GET/PATCH /api/v1/accesslog
// show it (the access_log section's keys). A reload sets it back to the
// config file's.
type AccessLogView struct {
	Enabled    bool    `json:"enabled"`
	SampleRate float64 `json:"sample_rate"`
}

func (s *Server) accessLogView() AccessLogView {
	al := s.accessLog.Load()
	if al == nil {
		return AccessLogView{SampleRate: s.cfg.Load().AccessLog.SampleRate}
	}
	return AccessLogView{Enabled: true, SampleRate: 1 / float64(al.every)}
}

func (s *Server) getAccessLog(w http.ResponseWriter, r *http.Request) {
	api.WriteData(w, r, http.StatusOK, s.accessLogView())
}

func (s *Server) patchAccessLog(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Enabled    *bool    `json:"enabled"`
		SampleRate *float64 `json:"sample_rate"`
	}
	if !api.Decode(w, r, &p) {
		return
	}
	v := s.accessLogView()
	if !api.PatchSampling(w, r, "sample_rate", "1 logs every request, 0.01 one in 100", &v.Enabled, p.Enabled, &v.SampleRate, p.SampleRate) {
		return
	}
	if v.Enabled {
		s.accessLog.Store(&accessLog{log: s.log.Named("access"), every: uint64(1/v.SampleRate + 0.5)})
	} else {
		s.accessLog.Store(nil)
	}
	s.log.Info("access log settings changed", zap.Bool("enabled", v.Enabled), zap.Float64("sample_rate", v.SampleRate))
	api.WriteData(w, r, http.StatusOK, s.accessLogView())
}
