// Package replicasync is the registry of coderd replicas: every coderd
// sharing a PostgreSQL database keeps a row in the replicas table alive
// and learns from the table which peers are alive, so the DERP mesh (and
// anything else that spans replicas) knows whom to talk to.
//
// A Manager inserts this process's row when it starts, refreshes it every
// Interval (updated_at is the database's clock, so replica clocks may
// differ) and deletes it on Close. A peer whose row has not been refreshed
// for PeerTimeoutIntervals intervals is gone: it crashed or lost the
// database. Its row is then deleted by exactly one replica (the one that
// wins a try-lock; the others skip), so a dead replica leaves nothing
// behind and nobody stampedes to clean it.
//
// Joins and clean leaves reach peers at once through the pubsub channel
// Channel: a replica that registers, changes its row (an error appears or
// clears) or leaves publishes its ID, and every Manager re-reads the table
// on receipt. A crash publishes nothing; peers notice it at the first
// heartbeat after the timeout. The heartbeat also probes each peer's relay
// address, so a replica that cannot reach a peer's DERP server says so in
// its row's error, where operators see it (GET /api/v2/replicas).
package replicasync

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
)

// Channel is the pubsub channel on which replicas announce changes to
// their rows; the payload is the announcing replica's ID.
const Channel = "replicas"

// DefaultInterval is the heartbeat interval when Options.Interval is zero.
const DefaultInterval = 5 * time.Second

// PeerTimeoutIntervals is how many heartbeat intervals a replica may stay
// silent before its peers count it as gone: one missed beat is a slow
// database, three is a dead or cut-off replica.
const PeerTimeoutIntervals = 3

// Options configure a Manager.
type Options struct {
	// ID identifies this replica; random when zero.
	ID uuid.UUID
	// Hostname defaults to os.Hostname.
	Hostname string
	// RelayAddress is the URL at which peers reach this replica's DERP
	// server (scheme and host; the DERP endpoint is /derp under it).
	RelayAddress string
	// RegionID is the DERP region this replica serves.
	RegionID int32
	// Version defaults to buildinfo.Version.
	Version string
	// Interval is the heartbeat interval; DefaultInterval when zero.
	Interval time.Duration
	// TLSConfig is used to probe peers' https relay addresses (nil: the
	// system roots).
	TLSConfig *tls.Config
	Logger    *slog.Logger
}

// Manager keeps this replica registered and tracks its live peers. New
// starts it; Close stops it.
type Manager struct {
	db     *database.Store
	ps     *pubsub.Pubsub
	opts   Options
	log    *slog.Logger
	probe  *http.Client
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	unsub  func()

	closeOnce sync.Once

	mu        sync.Mutex // guards everything below
	self      database.Replica
	peers     []database.Replica
	latency   time.Duration // the last heartbeat's round trip
	callbacks map[int]func()
	nextCB    int
	versions  string // the mixed versions last warned about; "" when uniform
	problems  string // the kind of this replica's last error (checkPeers)
	// lastOK is when the last heartbeat succeeded; cutOff is set once it
	// is a peer timeout old while this replica had peers (see CutOff).
	lastOK    time.Time
	cutOff    bool
	onCutOff  map[int]func()
	nextCutCB int
}

// New registers this replica, reads its peers and starts the heartbeat,
// which lives until Close (not until ctx, whose values it keeps). When New
// returns, Self and Peers describe the table as it was a moment ago.
func New(ctx context.Context, db *database.Store, ps *pubsub.Pubsub, opts Options) (*Manager, error) {
	if db == nil || ps == nil {
		return nil, errors.New("replicasync: DB and Pubsub are required")
	}
	if opts.ID == uuid.Nil {
		opts.ID = uuid.New()
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.Version == "" {
		opts.Version = buildinfo.Version()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.RelayAddress = strings.TrimSuffix(opts.RelayAddress, "/")
	m := &Manager{
		db: db, ps: ps, opts: opts,
		log:       opts.Logger.With("replica_id", opts.ID),
		probe:     &http.Client{Transport: &http.Transport{TLSClientConfig: opts.TLSConfig, DisableKeepAlives: true}},
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		callbacks: map[int]func(){},
		onCutOff:  map[int]func(){},
		lastOK:    time.Now(),
	}
	self, _, err := db.HeartbeatReplica(ctx, m.row(""))
	if err != nil {
		return nil, fmt.Errorf("register replica: %w", err)
	}
	m.self = self
	m.unsub, err = ps.Subscribe(ctx, Channel, m.onMessage)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe to replica changes: %w", err), m.deregister(ctx))
	}
	if err := m.sync(ctx); err != nil {
		m.unsub()
		return nil, errors.Join(err, m.deregister(ctx))
	}
	m.publish(ctx)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	go m.run(loopCtx)
	return m, nil
}

// Interval is the heartbeat interval in use.
func (m *Manager) Interval() time.Duration { return m.opts.Interval }

// PeerTimeout is how long a peer may stay silent before it counts as gone.
func (m *Manager) PeerTimeout() time.Duration { return PeerTimeoutIntervals * m.opts.Interval }

// Self is this replica's row as last written.
func (m *Manager) Self() database.Replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self
}

// Peers are the other live replicas, oldest first.
func (m *Manager) Peers() []database.Replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.peers)
}

// All is every live replica, this one included, oldest first.
func (m *Manager) All() []database.Replica {
	m.mu.Lock()
	defer m.mu.Unlock()
	all := append(slices.Clone(m.peers), m.self)
	slices.SortFunc(all, func(a, b database.Replica) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID.String(), b.ID.String())
	})
	return all
}

// Versions lists the distinct versions the live replicas run, sorted; more
// than one means a rolling upgrade is under way (or stuck).
func (m *Manager) Versions() []string { return versionsOf(m.All()) }

// OnChange calls fn (on the heartbeat goroutine, so it must not block)
// whenever the set of live peers or one of their relay addresses changes.
// The returned func stops the calls.
func (m *Manager) OnChange(fn func()) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextCB
	m.nextCB++
	m.callbacks[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.callbacks, id)
	}
}

// CutOff reports whether this replica has been out of the registry's
// reach for a peer timeout while it had peers: they have dropped it by
// now, from the DERP mesh too, so clients of its relay can no longer be
// reached from theirs. It ends with the next successful heartbeat.
func (m *Manager) CutOff() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cutOff
}

// OnCutOff calls fn (on the heartbeat goroutine, so it must not block)
// each time this replica becomes cut off (see CutOff). The returned func
// stops the calls.
func (m *Manager) OnCutOff(fn func()) (cancel func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextCutCB
	m.nextCutCB++
	m.onCutOff[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.onCutOff, id)
	}
}

// noteHeartbeat records a heartbeat's outcome and calls the OnCutOff
// callbacks when this replica has just become cut off: no heartbeat for a
// peer timeout, while a peer still answers that its database is fine (so
// it has dropped this replica). A lone replica is never cut off (nobody
// drops it, its relay's clients still reach each other), nor is one whose
// peers lost the database too: the database is down for everyone, nobody
// drops anybody, and the mesh stays whole.
func (m *Manager) noteHeartbeat(ctx context.Context, err error) {
	m.mu.Lock()
	if err == nil {
		m.lastOK = time.Now()
		if m.cutOff {
			m.log.InfoContext(ctx, "this replica reaches the registry again")
		}
		m.cutOff = false
		m.mu.Unlock()
		return
	}
	due := !m.cutOff && len(m.peers) > 0 && time.Since(m.lastOK) >= m.PeerTimeout()
	peers := slices.Clone(m.peers)
	m.mu.Unlock()
	if !due || !m.peerSeesDatabase(ctx, peers) {
		return
	}
	m.mu.Lock()
	m.cutOff = true
	fns := make([]func(), 0, len(m.onCutOff))
	for _, fn := range m.onCutOff {
		fns = append(fns, fn)
	}
	m.mu.Unlock()
	m.log.ErrorContext(ctx, "this replica has not reached the registry for a peer timeout while its peers do; they drop it, so it disconnects its relay's clients", "timeout", m.PeerTimeout(), "error", err)
	for _, fn := range fns {
		fn()
	}
}

// Close stops the heartbeat, deletes this replica's row and tells the
// peers, so they drop it at once instead of after the timeout. Idempotent.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		m.cancel()
		<-m.done
		m.unsub()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = m.deregister(ctx)
		m.publish(ctx)
	})
	return err
}

func (m *Manager) deregister(ctx context.Context) error {
	if err := m.db.DeleteReplica(ctx, m.opts.ID); err != nil {
		return fmt.Errorf("deregister replica: %w", err)
	}
	return nil
}

func (m *Manager) publish(ctx context.Context) {
	if err := m.ps.Publish(ctx, Channel, []byte(m.opts.ID.String())); err != nil {
		m.log.WarnContext(ctx, "announce replica change", "error", err)
	}
}

// onMessage runs on the pubsub listener: it only wakes the heartbeat.
func (m *Manager) onMessage(payload []byte, err error) {
	if err == nil && string(payload) == m.opts.ID.String() {
		return
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

func (m *Manager) run(ctx context.Context) {
	defer close(m.done)
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
		err := m.sync(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			m.log.WarnContext(ctx, "replica heartbeat", "error", err)
		}
		m.noteHeartbeat(ctx, err)
	}
}

// row is this replica's row with errText and the last measured latency.
func (m *Manager) row(errText string) database.Replica {
	return database.Replica{
		ID: m.opts.ID, Hostname: m.opts.Hostname, RelayAddress: m.opts.RelayAddress, RegionID: m.opts.RegionID,
		Version: m.opts.Version, Error: errText, DatabaseLatency: m.latency, StartedAt: m.self.StartedAt,
	}
}

// sync is one heartbeat: read the live replicas, probe the peers, write
// this replica's row, clean up dead rows, and tell subscribers what
// changed.
func (m *Manager) sync(ctx context.Context) error {
	live, err := m.db.ListLiveReplicas(ctx, m.PeerTimeout())
	if err != nil {
		return err
	}
	peers := slices.DeleteFunc(live, func(r database.Replica) bool { return r.ID == m.opts.ID })
	errText, problems := m.checkPeers(ctx, peers)

	m.mu.Lock()
	row := m.row(errText)
	prevProblems := m.problems
	m.problems = problems
	m.mu.Unlock()
	start := time.Now()
	self, inserted, err := m.db.HeartbeatReplica(ctx, row)
	if err != nil {
		return err
	}
	latency := time.Since(start)
	if inserted {
		// Our row was cleaned up while we could not reach the database.
		m.log.WarnContext(ctx, "this replica's row had been removed as dead; registered again")
	}
	if inserted || problems != prevProblems {
		m.publish(ctx)
		switch {
		case errText != "":
			m.log.WarnContext(ctx, "replica problem", "error", errText)
		case prevProblems != "":
			m.log.InfoContext(ctx, "replica problem resolved")
		}
	}
	if removed, err := m.db.DeleteSilentReplicas(ctx, m.PeerTimeout()); err != nil {
		m.log.WarnContext(ctx, "clean up dead replicas", "error", err)
	} else if len(removed) > 0 {
		m.log.InfoContext(ctx, "removed replicas silent for too long", "replicas", removed, "timeout", m.PeerTimeout())
		m.publish(ctx)
	}

	m.mu.Lock()
	changed := !samePeers(m.peers, peers)
	m.self, m.peers, m.latency = self, peers, latency
	callbacks := make([]func(), 0, len(m.callbacks))
	for _, fn := range m.callbacks {
		callbacks = append(callbacks, fn)
	}
	m.mu.Unlock()
	m.checkVersions(ctx)
	if changed {
		m.log.InfoContext(ctx, "replica peers changed", "peers", describe(peers))
		for _, fn := range callbacks {
			fn()
		}
	}
	return nil
}

// samePeers reports whether two peer lists name the same replicas at the
// same relay addresses.
func samePeers(a, b []database.Replica) bool {
	return slices.EqualFunc(a, b, func(x, y database.Replica) bool {
		return x.ID == y.ID && x.RelayAddress == y.RelayAddress
	})
}

func describe(rs []database.Replica) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s (%s, %s, relay %q)", r.ID, r.Hostname, r.Version, r.RelayAddress))
	}
	return out
}

// checkVersions warns once each time the set of versions among the live
// replicas becomes mixed (or changes while mixed), and notes when it is
// uniform again.
func (m *Manager) checkVersions(ctx context.Context) {
	all := m.All()
	versions := versionsOf(all)
	key := ""
	if len(versions) > 1 {
		key = strings.Join(versions, ", ")
	}
	m.mu.Lock()
	prev := m.versions
	m.versions = key
	m.mu.Unlock()
	switch {
	case key == prev:
	case key != "":
		byReplica := make([]string, 0, len(all))
		for _, r := range all {
			byReplica = append(byReplica, r.Hostname+"="+r.Version)
		}
		m.log.WarnContext(ctx, "replicas run different versions; finish the rolling upgrade", "versions", key, "replicas", byReplica)
	default:
		m.log.InfoContext(ctx, "all replicas run one version again", "version", m.opts.Version)
	}
}

func versionsOf(rs []database.Replica) []string {
	var out []string
	for _, r := range rs {
		if !slices.Contains(out, r.Version) {
			out = append(out, r.Version)
		}
	}
	slices.Sort(out)
	return out
}
