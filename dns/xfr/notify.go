package xfr

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// NOTIFY (RFC 1996): on every change, each configured secondary of the
// zone is told the new SOA over UDP until it answers, with up to
// `retries` more tries, each waiting twice as long as the one before.
// A newer change of the zone takes over from a NOTIFY still being
// retried to the same secondary.

// exchangeFunc sends one message and waits for the reply (a seam for tests).
type exchangeFunc func(ctx context.Context, m *dns.Msg, addr, key, secret string, timeout time.Duration) (*dns.Msg, error)

func udpExchange(ctx context.Context, m *dns.Msg, addr, key, secret string, timeout time.Duration) (*dns.Msg, error) {
	c := &dns.Client{Net: "udp", Timeout: timeout}
	if key != "" {
		c.TsigSecret = map[string]string{key: secret}
	}
	r, _, err := c.ExchangeContext(ctx, m, addr)
	return r, err
}

type notifier struct {
	log      *zap.Logger
	keys     *Keyring
	exchange exchangeFunc
	retries  int
	timeout  time.Duration
	metrics  *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	// running: the sender per zone and secondary, to stop when a newer
	// change starts its own
	running map[[2]string]*sender
}

type sender struct{ cancel context.CancelFunc }

// notify tells every target that zone is now at soa.
func (n *notifier) notify(zone string, soa *dns.SOA, targets []string, key string) {
	for _, addr := range targets {
		k := [2]string{zone, addr}
		ctx, cancel := context.WithCancel(n.ctx)
		me := &sender{cancel}
		n.mu.Lock()
		if prev := n.running[k]; prev != nil {
			prev.cancel()
		}
		n.running[k] = me
		n.mu.Unlock()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.send(ctx, zone, soa, addr, key)
			cancel()
			n.mu.Lock()
			if n.running[k] == me {
				delete(n.running, k)
			}
			n.mu.Unlock()
		}()
	}
}

func (n *notifier) send(ctx context.Context, zone string, soa *dns.SOA, addr, key string) {
	wait := n.timeout
	for try := 0; try <= n.retries; try++ {
		m := new(dns.Msg)
		m.SetNotify(zone)
		m.Authoritative = true
		m.Answer = []dns.RR{dns.Copy(soa)}
		secret := ""
		if key != "" {
			secret = n.keys.secrets[key]
			m.SetTsig(key, dns.HmacSHA256, 300, n.keys.now().Unix())
		}
		r, err := n.exchange(ctx, m, addr, key, secret, wait)
		if ctx.Err() != nil {
			return // a newer change, or shutdown
		}
		if err == nil && r != nil {
			if r.Rcode == dns.RcodeSuccess {
				n.metrics.notify.WithLabelValues("ok").Inc()
				n.log.Debug("NOTIFY acknowledged", zap.String("zone", zone), zap.String("secondary", addr), zap.Uint32("serial", soa.Serial), zap.Int("try", try+1))
			} else {
				n.metrics.notify.WithLabelValues("refused").Inc()
				n.log.Warn("NOTIFY refused by the secondary", zap.String("zone", zone), zap.String("secondary", addr),
					zap.String("rcode", dns.RcodeToString[r.Rcode]), zap.Uint32("serial", soa.Serial))
			}
			return
		}
		n.log.Debug("NOTIFY not answered; retrying", zap.String("zone", zone), zap.String("secondary", addr), zap.Int("try", try+1), zap.Error(err))
		wait *= 2
	}
	n.metrics.notify.WithLabelValues("unanswered").Inc()
	n.log.Warn("NOTIFY never answered; the secondary will see the change at its next SOA refresh",
		zap.String("zone", zone), zap.String("secondary", addr), zap.Uint32("serial", soa.Serial), zap.Int("tries", n.retries+1))
}

func (n *notifier) close() {
	n.cancel()
	n.wg.Wait()
}
