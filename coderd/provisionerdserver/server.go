// Package provisionerdserver is coderd's side of the provisioner protocol:
// the job queue that daemons long-poll (acquire, with NOTIFY wake-ups and
// SKIP LOCKED so no job goes to two daemons), the heartbeats and logs they
// send while a job runs, the results they complete jobs with (template
// imports and workspace builds, stored in one transaction), the reaper
// that fails jobs whose daemon went silent, and the authentication of
// daemons (provisioner keys, the pre-shared key, or an admin's session).
//
// coderd builds a Server from Options (database, pubsub, logger, clock,
// limits), mounts its handlers under /api/v2/provisionerdaemons/jobs, and
// calls CancelJob and ValidateTags; nothing here imports coderd.
//
// House rules: every statement's error inside a transaction is checked and
// the first one returned (PostgreSQL refuses the rest of an aborted
// transaction); text from daemons is cleaned (httpapi.NoNUL) and bounded
// before it is stored; the Server's goroutines (the reaper, the wake-up
// subscription) are joined by Close.
package provisionerdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
)

// Options configure a Server. DB, Pubsub and AccessURL are required.
type Options struct {
	DB     *database.Store
	Pubsub *pubsub.Pubsub
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// AccessURL is the deployment's URL, handed to templates.
	AccessURL *url.URL

	// PSK, when set, lets daemons authenticate with it; BuiltinPSK is the
	// per-process secret of the built-in daemons.
	PSK        string
	BuiltinPSK string
	// HeartbeatTimeout is how long a running job may go without a
	// heartbeat before the reaper fails it; ReapInterval is how often it
	// looks (defaults 30 s and 5 s).
	HeartbeatTimeout time.Duration
	ReapInterval     time.Duration
	// AcquirePollInterval is the safety-net poll of waiting daemons, in
	// case a notification is lost (default 10 s).
	AcquirePollInterval time.Duration
	// DetachedWriteTimeout bounds writes that outlive their request, such
	// as returning a job whose daemon hung up (default 10 s).
	DetachedWriteTimeout time.Duration
	// Metrics counts ended builds (nil: no metrics).
	Metrics *Metrics
}

// Server serves the provisioner daemons' job protocol.
//
// opts and acquirer are set by New and read-only after; the reaper
// goroutine is owned by the Server and joined by Close.
type Server struct {
	opts     Options
	acquirer *acquirer

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts a Server: its wake-up subscription and its reaper. Close
// stops them.
func New(ctx context.Context, opts Options) (*Server, error) {
	if opts.DB == nil || opts.Pubsub == nil || opts.AccessURL == nil {
		return nil, errors.New("provisionerdserver: DB, Pubsub and AccessURL are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HeartbeatTimeout == 0 {
		opts.HeartbeatTimeout = 30 * time.Second
	}
	if opts.ReapInterval == 0 {
		opts.ReapInterval = 5 * time.Second
	}
	if opts.AcquirePollInterval == 0 {
		opts.AcquirePollInterval = 10 * time.Second
	}
	if opts.DetachedWriteTimeout == 0 {
		opts.DetachedWriteTimeout = 10 * time.Second
	}
	acq, err := newAcquirer(ctx, opts.Pubsub)
	if err != nil {
		return nil, fmt.Errorf("start job acquirer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{opts: opts, acquirer: acq, cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runReaper(ctx)
	}()
	return s, nil
}

// Close stops the reaper and the wake-up subscription and waits for them.
// Idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.acquirer.close()
	})
	return nil
}

func (s *Server) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// detached returns a context for a write that must finish even when the
// request ends, bounded by DetachedWriteTimeout.
func (s *Server) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.opts.DetachedWriteTimeout)
}

// publishJobLogs tells followers that a job has new logs or ended.
func (s *Server) publishJobLogs(ctx context.Context, jobID uuid.UUID) {
	if err := s.opts.Pubsub.Publish(ctx, database.ChannelJobLogs(jobID), nil); err != nil {
		s.opts.Logger.WarnContext(ctx, "publish job logs", "job_id", jobID, "error", err)
	}
}
