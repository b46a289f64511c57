package tls

import (
	"context"
	ctls "crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"netsim/internal/metric"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the TLS metrics of lbd. A nil *Metrics is valid and records
// nothing.
//
//	lbd_tls_handshakes_total{version,resumed}      completed handshakes
//	lbd_tls_handshake_errors_total{reason}         failed handshakes by reason
//	lbd_tls_handshake_duration_seconds             time to complete a handshake
//	lbd_tls_certificate_expiry_seconds{name,file}  seconds until NotAfter (negative: expired)
//	lbd_tls_certificate_reloads_total{result}      certificate loads, ok or error
type Metrics struct {
	handshakes *prometheus.CounterVec
	errors     *prometheus.CounterVec
	duration   prometheus.Histogram
	reloads    *prometheus.CounterVec
	expiry     *prometheus.Desc

	mu     sync.Mutex
	stores []*Store
}

// Handshake failure reasons (label values of lbd_tls_handshake_errors_total).
const (
	ReasonTimeout          = "timeout"
	ReasonClientClosed     = "client_closed"
	ReasonNotTLS           = "not_tls"
	ReasonProtocolVersion  = "protocol_version"
	ReasonNoSharedCipher   = "no_shared_cipher"
	ReasonNoALPN           = "no_application_protocol"
	ReasonClientCertAbsent = "client_cert_missing"
	ReasonClientCertBad    = "client_cert_bad"
	ReasonRemoteAlert      = "remote_alert"
	ReasonNoCertificate    = "no_certificate"
	ReasonOther            = "other"
)

// NewMetrics creates the TLS metrics and registers them with reg (nil: not
// registered, still usable).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		handshakes: metric.Counters("lbd_tls_handshakes_total", "Completed TLS handshakes by protocol version and whether the session was resumed.", "version", "resumed"),
		errors:     metric.Counters("lbd_tls_handshake_errors_total", "Failed TLS handshakes by reason.", "reason"),
		duration:   metric.Histogram("lbd_tls_handshake_duration_seconds", "Time from accepting a connection to a completed TLS handshake.", []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}),
		reloads:    metric.Counters("lbd_tls_certificate_reloads_total", "Certificate loads and reloads by result (ok or error).", "result"),
		expiry: prometheus.NewDesc("lbd_tls_certificate_expiry_seconds",
			"Seconds until the certificate's NotAfter; negative when expired.",
			[]string{"name", "file"}, nil),
	}
	for _, r := range []string{ReasonTimeout, ReasonClientClosed, ReasonNotTLS, ReasonProtocolVersion,
		ReasonNoSharedCipher, ReasonNoALPN, ReasonClientCertAbsent, ReasonClientCertBad, ReasonRemoteAlert,
		ReasonNoCertificate, ReasonOther} {
		m.errors.WithLabelValues(r) // export zeros so rate() works from the start
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("error")
	if err := metric.Register(reg, m.handshakes, m.errors, m.duration, m.reloads, (*expiryCollector)(m)); err != nil {
		return nil, err
	}
	return m, nil
}

// expiryCollector reports the expiry of every watched store's certificates
// at scrape time, so the gauge never goes stale.
type expiryCollector Metrics

func (e *expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- e.expiry }

func (e *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	stores := append([]*Store(nil), e.stores...)
	e.mu.Unlock()
	seen := map[[2]string]bool{}
	for _, s := range stores {
		now := s.now()
		for _, c := range s.idx.Load().all {
			name := c.Subject
			if len(c.DNSNames) > 0 {
				name = c.DNSNames[0]
			} else if len(c.IPs) > 0 {
				name = c.IPs[0]
			}
			key := [2]string{name, c.CertFile}
			if seen[key] {
				continue
			}
			seen[key] = true
			ch <- prometheus.MustNewConstMetric(e.expiry, prometheus.GaugeValue, c.NotAfter.Sub(now).Seconds(), name, c.CertFile)
		}
	}
}

func (m *Metrics) watch(s *Store) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.stores = append(m.stores, s)
	m.mu.Unlock()
}

func (m *Metrics) reload(result string) {
	if m != nil {
		m.reloads.WithLabelValues(result).Inc()
	}
}

// ObserveHandshake counts a completed handshake; took may be 0 when unknown.
func (m *Metrics) ObserveHandshake(cs ctls.ConnectionState, took time.Duration) {
	if m == nil {
		return
	}
	resumed := "false"
	if cs.DidResume {
		resumed = "true"
	}
	m.handshakes.WithLabelValues(VersionName(cs.Version), resumed).Inc()
	if took > 0 {
		m.duration.Observe(took.Seconds())
	}
}

// ObserveError counts a failed handshake and returns its reason.
func (m *Metrics) ObserveError(err error) string {
	r := Reason(err)
	if m != nil {
		m.errors.WithLabelValues(r).Inc()
	}
	return r
}

// Reason classifies a server-side handshake error into a small, stable set
// of label values.
func Reason(err error) string {
	var rhe ctls.RecordHeaderError
	var ne net.Error
	var ae ctls.AlertError
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case err == nil:
		return ""
	case errors.As(err, &rhe):
		return ReasonNotTLS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return ReasonTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
		return ReasonClientClosed
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return ReasonProtocolVersion
	case strings.Contains(msg, "no cipher suite"), strings.Contains(msg, "no mutually supported"),
		strings.Contains(msg, "no ECDHE curve"), strings.Contains(msg, "no key exchange"),
		strings.Contains(msg, "supported groups"):
		return ReasonNoSharedCipher
	case strings.Contains(msg, "application protocol"):
		return ReasonNoALPN
	case strings.Contains(msg, "didn't provide a certificate"):
		return ReasonClientCertAbsent
	case strings.Contains(msg, "client certificate"), strings.Contains(msg, "failed to verify certificate"),
		strings.Contains(msg, "certificate signed by unknown authority"):
		return ReasonClientCertBad
	case strings.Contains(msg, "no certificates configured"), strings.Contains(msg, "no certificate for"):
		return ReasonNoCertificate
	case errors.As(err, &ae), strings.Contains(msg, "remote error"):
		return ReasonRemoteAlert
	default:
		return ReasonOther
	}
}

// VersionName is "TLS 1.3" style, or "unknown" (bounded label values).
func VersionName(v uint16) string {
	switch v {
	case ctls.VersionTLS10, ctls.VersionTLS11, ctls.VersionTLS12, ctls.VersionTLS13:
		return ctls.VersionName(v)
	default:
		return "unknown"
	}
}
