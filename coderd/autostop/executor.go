// Package autostop is the lifecycle executor: every tick it stops the
// running workspaces whose build deadline has passed, by queueing a stop
// build with reason "autostop".
//
// Exactly once, across replicas: each workspace is claimed in its own
// transaction with SELECT ... FOR UPDATE SKIP LOCKED on its row, and the
// newest build is checked again under that lock, so a second executor
// either skips the locked row or, once the first has committed, sees the
// stop build as newest and does nothing. A user's build inserted at the
// same moment takes a key-share lock on the same row (the foreign key),
// so it waits for the claim, or the claim skips it; should both still pick
// the same build number, the (workspace_id, build_number) unique key
// refuses one of them, and the executor counts that as "someone else
// acted".
package autostop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
)

// DefaultTick is how often the executor looks when Options.Tick is zero.
const DefaultTick = time.Minute

// batch bounds one tick's work; the rest waits for the next tick.
const batch = 100

// Options configure an Executor. DB and QueueStop are required.
type Options struct {
	DB     *database.Store
	Logger *slog.Logger
	// Now is the clock (time.Now when nil): tests move it past deadlines.
	Now func() time.Time
	// Tick is how often to look; DefaultTick when zero.
	Tick time.Duration
	// QueueStop inserts the stop build (and its job) of ws, whose newest
	// build is latest, inside tx: the caller owns how builds are made.
	QueueStop func(ctx context.Context, tx *database.Store, ws database.Workspace, latest database.WorkspaceBuild) (database.WorkspaceBuild, error)
	// Stopped, when set, is told of each stop build after its commit (for
	// the audit log).
	Stopped func(ctx context.Context, ws database.Workspace, stop database.WorkspaceBuild, deadline time.Time)
}

// Executor runs the autostop loop; New starts it and Close stops it.
type Executor struct {
	opts      Options
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// New starts an executor whose loop lives until Close (not until ctx,
// whose values it keeps).
func New(ctx context.Context, opts Options) (*Executor, error) {
	if opts.DB == nil || opts.QueueStop == nil {
		return nil, errors.New("autostop: DB and QueueStop are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e := &Executor{opts: opts, cancel: cancel, done: make(chan struct{})}
	go e.run(ctx)
	return e, nil
}

// Close stops the loop and waits for it. Idempotent.
func (e *Executor) Close() error {
	e.closeOnce.Do(func() {
		e.cancel()
		<-e.done
	})
	return nil
}

func (e *Executor) run(ctx context.Context) {
	defer close(e.done)
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := e.RunOnce(ctx); err != nil && ctx.Err() == nil {
			e.opts.Logger.WarnContext(ctx, "autostop", "error", err)
		}
	}
}

// RunOnce stops every running workspace past its deadline (up to one
// batch) and returns the IDs of those it stopped. Tests call it directly
// to race two executors.
func (e *Executor) RunOnce(ctx context.Context) ([]uuid.UUID, error) {
	now := e.opts.Now().UTC().Truncate(time.Microsecond)
	ids, err := e.opts.DB.GetWorkspacesPastDeadline(ctx, now, batch)
	if err != nil {
		return nil, err
	}
	var stopped []uuid.UUID
	var errs []error
	for _, id := range ids {
		ok, err := e.stop(ctx, id, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("workspace %s: %w", id, err))
			continue
		}
		if ok {
			stopped = append(stopped, id)
		}
	}
	return stopped, errors.Join(errs...)
}

// stop claims one workspace and queues its stop build; false when another
// executor or a user got there first.
func (e *Executor) stop(ctx context.Context, id uuid.UUID, now time.Time) (bool, error) {
	var (
		ws       database.Workspace
		build    database.WorkspaceBuild
		deadline time.Time
		claimed  bool
	)
	err := e.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var latest database.WorkspaceBuild
		var err error
		ws, latest, claimed, err = tx.ClaimWorkspacePastDeadline(ctx, id, now)
		if err != nil || !claimed {
			return err
		}
		deadline = *latest.Deadline
		build, err = e.opts.QueueStop(ctx, tx, ws, latest)
		return err
	})
	if database.IsUniqueViolation(err) {
		return false, nil // a user's build took the number: they acted
	}
	if err != nil || !claimed {
		return false, err
	}
	e.opts.Logger.InfoContext(ctx, "autostop: stopping workspace past its deadline",
		"workspace_id", ws.ID, "workspace", ws.Name, "deadline", deadline, "build_number", build.BuildNumber)
	if e.opts.Stopped != nil {
		e.opts.Stopped(ctx, ws, build, deadline)
	}
	return true, nil
}
