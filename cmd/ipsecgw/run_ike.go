package main

import (
	"context"
	"time"

	"ipsecgw/config"
	"ipsecgw/ike/ikev1"
	"ipsecgw/logging"
	"ipsecgw/slowpath"
)

// negotiates reports whether a configuration has crypto map entries that
// IKE negotiates (static ipsec-isakmp entries or dynamic map templates),
// so a live gateway runs the negotiator (IKEv2, and IKEv1 for entries
// without an IKEv2 profile).
func negotiates(cfg *config.Config) bool {
	for _, m := range cfg.Policy.CryptoMaps {
		for _, e := range m.Entries {
			if e.Kind != config.ManualEntry {
				return true
			}
		}
	}
	return false
}

// puntDrainInterval is how often the run loop serves the workers' punt
// rings: IKE datagrams, ACQUIREs, and the SA lifetime events that start
// kilobyte rekeys, whose margin before the hard limit shrinks at full
// speed. BenchmarkPuntDrainInterval measured, in one run on the shared
// 2-core machine: 10 ms gave a punt-to-slow-path delay of p50 4.7-5.4 ms,
// p99 10-21 ms; 1 ms gave p50 0.04-0.14 ms, p99 1.4 ms, for about 2-4 %
// more of one core on an idle gateway (noisy: 1.2-2.2 % vs 3.8-6.2 % for
// the whole process).
const puntDrainInterval = time.Millisecond

// liveIKE is the IKEv2 side of a live gateway: the negotiator and its
// engine's goroutine.
type liveIKE struct {
	neg  *slowpath.Negotiator
	stop context.CancelFunc
	done chan struct{}
}

// startIKE creates the negotiator over the operations layer ops returns
// (created after the negotiator, which it shows): the negotiator works on
// its current gateway and publishes gateways with temporary crypto map
// entries through it. Run starts the engine.
func startIKE(logs *logging.Logs, ops func() *slowpath.Ops) (*liveIKE, error) {
	neg, err := slowpath.NewNegotiator(slowpath.NegotiatorConfig{
		Gateway: func() *slowpath.Gateway { return ops().Gateway() },
		Publish: func(f func(*slowpath.Gateway) (*slowpath.Gateway, error)) error { return ops().UpdateGateway(f) },
		Logger:  logs.Logger(logging.IKEv2),
		IKEv1:   &ikev1.Config{Logger: logs.Logger(logging.ISAKMP)},
	})
	if err != nil {
		return nil, err
	}
	return &liveIKE{neg: neg}, nil
}

// run configures the peers and starts the engine.
func (l *liveIKE) run() error {
	if err := l.neg.SetPeers(); err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	l.stop, l.done = stop, make(chan struct{})
	go func() { l.neg.Run(ctx); close(l.done) }()
	return nil
}

// close deletes the IKE SAs with their peers (drain serves the punt rings
// meanwhile) and stops the engine.
func (l *liveIKE) close(drain func()) {
	if l.stop == nil {
		return
	}
	l.neg.Shutdown(time.Second, drain)
	l.stop()
	<-l.done
}
