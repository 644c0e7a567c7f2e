package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Autostop queries: the deadline a start build gets, the executor's scan
// and claim, the user's ttl and the activity bump.

// latestStartSucceeded holds for a build b that is its workspace's newest,
// a start, and succeeded: a running workspace.
const latestStartSucceeded = `b.transition = 'start'
	AND NOT EXISTS (SELECT 1 FROM workspace_builds n WHERE n.workspace_id = b.workspace_id AND n.build_number > b.build_number)
	AND (SELECT job_status FROM provisioner_jobs j WHERE j.id = b.job_id) = 'succeeded'`

// SetWorkspaceBuildDeadline stores a build's deadline (nil clears it).
func (s *Store) SetWorkspaceBuildDeadline(ctx context.Context, buildID uuid.UUID, deadline *time.Time, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE workspace_builds SET deadline = $2, updated_at = $3 WHERE id = $1`, buildID, deadline, now)
	if err != nil {
		return fmt.Errorf("set build deadline: %w", err)
	}
	return nil
}

// GetWorkspacesPastDeadline returns up to limit live workspaces that are
// running (newest build a succeeded start) with a deadline at or before
// now: the ones the lifecycle executor stops.
func (s *Store) GetWorkspacesPastDeadline(ctx context.Context, now time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := s.db.Query(ctx, `SELECT b.workspace_id FROM workspace_builds b JOIN workspaces w ON w.id = b.workspace_id
		WHERE b.deadline IS NOT NULL AND b.deadline <= $1 AND NOT w.deleted AND `+latestStartSucceeded+`
		ORDER BY b.deadline LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("workspaces past deadline: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// ClaimWorkspacePastDeadline locks a workspace for the rest of the
// transaction, skipping it when another transaction holds it (another
// replica's executor, mid-claim), and returns its newest build when that
// is still a succeeded start past its deadline at now. ok is false when
// there is nothing (any more) to stop.
func (s *Store) ClaimWorkspacePastDeadline(ctx context.Context, workspaceID uuid.UUID, now time.Time) (Workspace, WorkspaceBuild, bool, error) {
	ws, err := scanWorkspace(s.db.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1 AND NOT deleted FOR UPDATE SKIP LOCKED`, workspaceID))
	if errors.Is(err, ErrNotFound) {
		return ws, WorkspaceBuild{}, false, nil
	}
	if err != nil {
		return ws, WorkspaceBuild{}, false, fmt.Errorf("lock workspace: %w", err)
	}
	b, err := scanBuild(s.db.QueryRow(ctx, `SELECT `+prefixed("b.", buildColumns)+` FROM workspace_builds b
		WHERE b.workspace_id = $1 AND b.deadline IS NOT NULL AND b.deadline <= $2 AND `+latestStartSucceeded, workspaceID, now))
	if errors.Is(err, ErrNotFound) {
		return ws, b, false, nil
	}
	if err != nil {
		return ws, b, false, fmt.Errorf("re-check latest build: %w", err)
	}
	return ws, b, true, nil
}

// UpdateWorkspaceTTL sets a workspace's ttl (nil: no autostop) and moves
// the deadline of its running build to match: completion time + ttl, or
// none. It returns the workspace and the running build's new deadline (nil
// when none or not running).
func (s *Store) UpdateWorkspaceTTL(ctx context.Context, id uuid.UUID, ttl *int64, now time.Time) (Workspace, *time.Time, error) {
	ws, err := scanWorkspace(s.db.QueryRow(ctx, `UPDATE workspaces SET ttl_ms = $2, updated_at = $3 WHERE id = $1 RETURNING `+workspaceColumns, id, ttl, now))
	if err != nil {
		return ws, nil, err
	}
	var deadline *time.Time
	err = s.db.QueryRow(ctx, `UPDATE workspace_builds b
		SET deadline = CASE WHEN coalesce($2::bigint, 0) > 0 THEN (SELECT completed_at FROM provisioner_jobs WHERE id = b.job_id) + $2::bigint * interval '1 millisecond' END,
			updated_at = $3
		WHERE b.workspace_id = $1 AND `+latestStartSucceeded+` RETURNING b.deadline`, id, ttl, now).Scan(&deadline)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return ws, nil, fmt.Errorf("move deadline: %w", err)
	}
	return ws, deadline, nil
}

// BumpWorkspaceActivity records use of a running workspace at now in one
// statement: last_used_at when it is over a minute old, and the running
// build's deadline, pushed to now + the workspace's ttl when that is over
// a minute later than it is. Both conditions make repeated calls within a
// minute no-ops (no row written). It reports whether the deadline moved.
func (s *Store) BumpWorkspaceActivity(ctx context.Context, workspaceID uuid.UUID, now time.Time) (bool, error) {
	tag, err := s.db.Exec(ctx, `WITH used AS (
			UPDATE workspaces SET last_used_at = $2 WHERE id = $1 AND last_used_at < $2::timestamptz - interval '1 minute' RETURNING id
		)
		UPDATE workspace_builds b SET deadline = $2::timestamptz + w.ttl_ms * interval '1 millisecond', updated_at = $2
		FROM workspaces w
		WHERE w.id = $1 AND b.workspace_id = $1 AND w.ttl_ms > 0 AND b.deadline IS NOT NULL
			AND b.deadline < $2::timestamptz + w.ttl_ms * interval '1 millisecond' - interval '1 minute'
			AND b.build_number = (SELECT max(build_number) FROM workspace_builds WHERE workspace_id = $1)
			AND b.transition = 'start'`, workspaceID, now)
	if err != nil {
		return false, fmt.Errorf("bump workspace activity: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ExtendWorkspaceDeadline moves the deadline of a workspace's running
// build (newest, a succeeded start, with a deadline) to deadline. It
// reports false when there is no such build: the workspace is not running,
// or runs without autostop.
func (s *Store) ExtendWorkspaceDeadline(ctx context.Context, workspaceID uuid.UUID, deadline, now time.Time) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE workspace_builds b SET deadline = $2, updated_at = $3
		WHERE b.workspace_id = $1 AND b.deadline IS NOT NULL AND `+latestStartSucceeded, workspaceID, deadline, now)
	if err != nil {
		return false, fmt.Errorf("extend deadline: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
