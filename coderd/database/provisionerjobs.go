package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ChannelJobPosted is NOTIFYed (by a trigger) with the organization ID
// whenever a job is queued.
const ChannelJobPosted = "provisioner_job_posted"

// ChannelJobLogs is NOTIFYed when a job gains logs or ends.
func ChannelJobLogs(jobID uuid.UUID) string { return "provisioner_job_logs_" + jobID.String() }

// ProvisionerJob is a row of provisioner_jobs.
type ProvisionerJob struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	InitiatorID    uuid.UUID
	Type           string
	Provisioner    string
	FileID         uuid.UUID
	Input          json.RawMessage
	Tags           map[string]string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	StartedAt      *time.Time
	CanceledAt     *time.Time
	CompletedAt    *time.Time
	WorkerID       *uuid.UUID
	Error          *string
	ErrorCode      string
	LogsLength     int32
	Status         string
}

const jobColumns = `id, organization_id, initiator_id, type, provisioner, file_id, input, tags, created_at, updated_at, started_at, canceled_at, completed_at, worker_id, error, error_code, logs_length, job_status`

func scanJob(row pgx.Row) (ProvisionerJob, error) {
	var j ProvisionerJob
	err := row.Scan(&j.ID, &j.OrganizationID, &j.InitiatorID, &j.Type, &j.Provisioner, &j.FileID, &j.Input, &j.Tags,
		&j.CreatedAt, &j.UpdatedAt, &j.StartedAt, &j.CanceledAt, &j.CompletedAt, &j.WorkerID, &j.Error, &j.ErrorCode, &j.LogsLength, &j.Status)
	return j, notFound(err)
}

func scanJobs(rows pgx.Rows, err error) ([]ProvisionerJob, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProvisionerJob
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// InsertProvisionerJob queues a job; the trigger wakes idle daemons.
func (s *Store) InsertProvisionerJob(ctx context.Context, j ProvisionerJob) (ProvisionerJob, error) {
	if j.Tags == nil {
		j.Tags = DefaultTags()
	}
	if len(j.Input) == 0 {
		j.Input = json.RawMessage("{}")
	}
	out, err := scanJob(s.db.QueryRow(ctx, `INSERT INTO provisioner_jobs (id, organization_id, initiator_id, type, provisioner, file_id, input, tags, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING `+jobColumns,
		j.ID, j.OrganizationID, j.InitiatorID, j.Type, j.Provisioner, j.FileID, j.Input, j.Tags, j.CreatedAt))
	if err != nil {
		return ProvisionerJob{}, fmt.Errorf("insert provisioner job: %w", err)
	}
	return out, nil
}

// DefaultTags are a job's or daemon's tags when none are given.
func DefaultTags() map[string]string {
	return map[string]string{"scope": "organization", "owner": ""}
}

// AcquireProvisionerJob hands the oldest pending job whose tags are all
// among the daemon's to workerID, or ErrNotFound. An untagged job (tags
// exactly DefaultTags) goes only to an untagged daemon: a fleet given a tag
// (a GPU pool, a daemon outside a cluster with a kubeconfig) exists for the
// templates that ask for it and may lack what an untagged template assumes,
// as the incumbent decided too. SKIP LOCKED lets any number of daemons poll
// at once without ever sharing a job.
func (s *Store) AcquireProvisionerJob(ctx context.Context, orgID, workerID uuid.UUID, provisioners []string, tags map[string]string, now time.Time) (ProvisionerJob, error) {
	return scanJob(s.db.QueryRow(ctx, `UPDATE provisioner_jobs SET started_at = $4, updated_at = $4, worker_id = $2
		WHERE id = (
			SELECT id FROM provisioner_jobs
			WHERE started_at IS NULL AND canceled_at IS NULL AND organization_id = $1
			  AND provisioner = ANY($3) AND `+runnableSQL("tags", "$5::jsonb")+`
			ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1
		) RETURNING `+jobColumns, orgID, workerID, provisioners, now, tags))
}

// runnableSQL is the acquire rule as a SQL condition over a job's tags
// (job) and a daemon's (daemon), both jsonb: the job's tags all among the
// daemon's, and an untagged job (exactly DefaultTags) only on an untagged
// daemon.
func runnableSQL(job, daemon string) string {
	return fmt.Sprintf(`(CASE WHEN %[1]s = '{"scope": "organization", "owner": ""}'::jsonb THEN %[2]s = %[1]s ELSE %[1]s <@ %[2]s END)`, job, daemon)
}

// CountRunnableDaemons counts the daemons of the job's organization that
// could take it (its provisioner and the acquire rule over tags) among those
// seen since seenSince, and how many of them were seen since liveSince: a
// queued job with none live waits for a daemon nobody may be running.
func (s *Store) CountRunnableDaemons(ctx context.Context, j ProvisionerJob, seenSince, liveSince time.Time) (seen, live int, err error) {
	err = s.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE last_seen_at >= $5) FROM provisioner_daemons
		WHERE organization_id = $1 AND $2 = ANY(provisioners) AND last_seen_at >= $4 AND `+runnableSQL("$3::jsonb", "tags"),
		j.OrganizationID, j.Provisioner, j.Tags, seenSince, liveSince).Scan(&seen, &live)
	if err != nil {
		return 0, 0, fmt.Errorf("count runnable daemons: %w", err)
	}
	return seen, live, nil
}

// ReleaseProvisionerJob puts an acquired job back in the queue, when its
// daemon never received it.
func (s *Store) ReleaseProvisionerJob(ctx context.Context, id, workerID uuid.UUID) error {
	_, err := s.db.Exec(ctx, `UPDATE provisioner_jobs SET started_at = NULL, worker_id = NULL
		WHERE id = $1 AND worker_id = $2 AND completed_at IS NULL AND logs_length = 0`, id, workerID)
	if err != nil {
		return fmt.Errorf("release job: %w", err)
	}
	return nil
}

// GetProvisionerJobByID returns a job.
func (s *Store) GetProvisionerJobByID(ctx context.Context, id uuid.UUID) (ProvisionerJob, error) {
	return scanJob(s.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM provisioner_jobs WHERE id = $1`, id))
}

// GetProvisionerJobByIDForUpdate locks the job row until the transaction ends.
func (s *Store) GetProvisionerJobByIDForUpdate(ctx context.Context, id uuid.UUID) (ProvisionerJob, error) {
	return scanJob(s.db.QueryRow(ctx, `SELECT `+jobColumns+` FROM provisioner_jobs WHERE id = $1 FOR UPDATE`, id))
}

// GetProvisionerJobsByIDs returns jobs in no particular order.
func (s *Store) GetProvisionerJobsByIDs(ctx context.Context, ids []uuid.UUID) ([]ProvisionerJob, error) {
	jobs, err := scanJobs(s.db.Query(ctx, `SELECT `+jobColumns+` FROM provisioner_jobs WHERE id = ANY($1)`, ids))
	if err != nil {
		return nil, fmt.Errorf("get provisioner jobs: %w", err)
	}
	return jobs, nil
}

// HeartbeatProvisionerJob records that the worker still runs the job and
// reports whether it was canceled. ErrNotFound means the job is no longer
// this worker's (completed, reaped or never acquired by it).
func (s *Store) HeartbeatProvisionerJob(ctx context.Context, id, workerID uuid.UUID, now time.Time) (canceled bool, err error) {
	err = s.db.QueryRow(ctx, `UPDATE provisioner_jobs SET updated_at = $3
		WHERE id = $1 AND worker_id = $2 AND completed_at IS NULL RETURNING canceled_at IS NOT NULL`, id, workerID, now).Scan(&canceled)
	return canceled, notFound(err)
}

// CompleteProvisionerJob ends a job: with errMsg nil it succeeded.
func (s *Store) CompleteProvisionerJob(ctx context.Context, id uuid.UUID, errMsg *string, errCode string, now time.Time) (ProvisionerJob, error) {
	return scanJob(s.db.QueryRow(ctx, `UPDATE provisioner_jobs SET completed_at = $2, updated_at = $2, error = $3, error_code = $4
		WHERE id = $1 AND completed_at IS NULL RETURNING `+jobColumns, id, now, errMsg, errCode))
}

// CancelProvisionerJob marks a job canceled. A pending job ends at once; a
// running one becomes "canceling" until its daemon stops Terraform.
func (s *Store) CancelProvisionerJob(ctx context.Context, id uuid.UUID, now time.Time) (ProvisionerJob, error) {
	return scanJob(s.db.QueryRow(ctx, `UPDATE provisioner_jobs SET canceled_at = $2, updated_at = $2,
		completed_at = CASE WHEN started_at IS NULL THEN $2 ELSE completed_at END,
		error = CASE WHEN started_at IS NULL THEN 'Canceled before it started.' ELSE error END,
		error_code = CASE WHEN started_at IS NULL THEN 'CANCELED' ELSE error_code END
		WHERE id = $1 AND completed_at IS NULL AND canceled_at IS NULL RETURNING `+jobColumns, id, now))
}

// GetHungProvisionerJobs lists running jobs not heard from since before
// `before`, oldest first.
func (s *Store) GetHungProvisionerJobs(ctx context.Context, before time.Time, limit int) ([]ProvisionerJob, error) {
	jobs, err := scanJobs(s.db.Query(ctx, `SELECT `+jobColumns+` FROM provisioner_jobs
		WHERE started_at IS NOT NULL AND completed_at IS NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2`, before, limit))
	if err != nil {
		return nil, fmt.Errorf("get hung jobs: %w", err)
	}
	return jobs, nil
}

// CountActiveProvisionerJobs counts jobs waiting for a daemon and jobs
// running, deployment-wide (each count is served by a partial index, so a
// metrics scrape stays cheap).
func (s *Store) CountActiveProvisionerJobs(ctx context.Context) (pending, running int, err error) {
	err = s.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM provisioner_jobs WHERE started_at IS NULL AND completed_at IS NULL),
		(SELECT count(*) FROM provisioner_jobs WHERE started_at IS NOT NULL AND completed_at IS NULL)`).Scan(&pending, &running)
	if err != nil {
		return 0, 0, fmt.Errorf("count active jobs: %w", err)
	}
	return pending, running, nil
}

// QueuePosition returns a pending job's 1-based position among pending jobs
// of its organization and the queue's size.
func (s *Store) QueuePosition(ctx context.Context, j ProvisionerJob) (pos, size int, err error) {
	if j.StartedAt != nil || j.CompletedAt != nil {
		return 0, 0, nil
	}
	err = s.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE created_at <= $2), count(*) FROM provisioner_jobs
		WHERE organization_id = $1 AND started_at IS NULL AND completed_at IS NULL`, j.OrganizationID, j.CreatedAt).Scan(&pos, &size)
	if err != nil {
		return 0, 0, fmt.Errorf("queue position: %w", err)
	}
	return pos, size, nil
}

// ProvisionerJobLog is a row of provisioner_job_logs.
type ProvisionerJobLog struct {
	ID        int64
	JobID     uuid.UUID
	CreatedAt time.Time
	Source    string
	Level     string
	Stage     string
	Output    string
}

// InsertProvisionerJobLogs appends lines in order with one statement.
func (s *Store) InsertProvisionerJobLogs(ctx context.Context, jobID uuid.UUID, logs []ProvisionerJobLog) error {
	if len(logs) == 0 {
		return nil
	}
	created := make([]time.Time, len(logs))
	sources := make([]string, len(logs))
	levels := make([]string, len(logs))
	stages := make([]string, len(logs))
	outputs := make([]string, len(logs))
	for i, l := range logs {
		created[i], sources[i], levels[i], stages[i], outputs[i] = l.CreatedAt, l.Source, l.Level, l.Stage, l.Output
	}
	_, err := s.db.Exec(ctx, `WITH ins AS (
			INSERT INTO provisioner_job_logs (job_id, created_at, source, level, stage, output)
			SELECT $1, c, s::log_source, l::log_level, st, o
			FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS t(c, s, l, st, o, n)
			ORDER BY n RETURNING 1
		)
		UPDATE provisioner_jobs SET logs_length = logs_length + (SELECT count(*) FROM ins) WHERE id = $1`,
		jobID, created, sources, levels, stages, outputs)
	if err != nil {
		return fmt.Errorf("insert job logs: %w", err)
	}
	return nil
}

// GetProvisionerJobLogsAfter returns a job's lines with ID > after.
func (s *Store) GetProvisionerJobLogsAfter(ctx context.Context, jobID uuid.UUID, after int64) ([]ProvisionerJobLog, error) {
	rows, err := s.db.Query(ctx, `SELECT id, job_id, created_at, source, level, stage, output FROM provisioner_job_logs
		WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT 10000`, jobID, after)
	if err != nil {
		return nil, fmt.Errorf("get job logs: %w", err)
	}
	defer rows.Close()
	var out []ProvisionerJobLog
	for rows.Next() {
		var l ProvisionerJobLog
		if err := rows.Scan(&l.ID, &l.JobID, &l.CreatedAt, &l.Source, &l.Level, &l.Stage, &l.Output); err != nil {
			return nil, fmt.Errorf("scan job log: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
