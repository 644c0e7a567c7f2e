package coderd

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

func convertJob(j database.ProvisionerJob) (codersdk.ProvisionerJob, error) {
	cj := codersdk.ProvisionerJob{
		ID: j.ID, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, CompletedAt: j.CompletedAt, CanceledAt: j.CanceledAt,
		ErrorCode: j.ErrorCode, Status: codersdk.ProvisionerJobStatus(j.Status), WorkerID: j.WorkerID, FileID: j.FileID,
		Tags: j.Tags, OrganizationID: j.OrganizationID, Type: codersdk.ProvisionerJobType(j.Type),
	}
	if j.Error != nil {
		cj.Error = *j.Error
	}
	if err := decodeStored("provisioner_jobs", "input", j.ID, j.Input, &cj.Input); err != nil {
		return codersdk.ProvisionerJob{}, err
	}
	return cj, nil
}

// convertJobsByID converts jobs with their queue positions.
func (api *API) convertJobsByID(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]codersdk.ProvisionerJob, error) {
	jobs, err := api.opts.DB.GetProvisionerJobsByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]codersdk.ProvisionerJob, len(jobs))
	for _, j := range jobs {
		cj, err := convertJob(j)
		if err != nil {
			return nil, err
		}
		if j.Status == string(codersdk.ProvisionerJobPending) {
			cj.QueuePosition, cj.QueueSize, err = api.opts.DB.QueuePosition(ctx, j)
			if err != nil {
				return nil, err
			}
			now := api.now()
			var m codersdk.MatchedProvisioners
			m.Count, m.Available, err = api.opts.DB.CountRunnableDaemons(ctx, j, now.Add(-24*time.Hour), now.Add(-daemonStaleAfter))
			if err != nil {
				return nil, err
			}
			cj.MatchedProvisioners = &m
		}
		out[j.ID] = cj
	}
	return out, nil
}

func (api *API) cancelJob(w http.ResponseWriter, r *http.Request, jobID uuid.UUID) {
	ctx := r.Context()
	err := api.provisioners.CancelJob(ctx, jobID)
	if errors.Is(err, database.ErrNotFound) {
		httpapi.Error(w, http.StatusBadRequest, "The job has already ended or is being canceled.")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "cancel job", err)
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Job canceled."})
}

func convertLogs(rows []database.ProvisionerJobLog) []codersdk.ProvisionerJobLog {
	out := make([]codersdk.ProvisionerJobLog, 0, len(rows))
	for _, l := range rows {
		out = append(out, codersdk.ProvisionerJobLog{ID: l.ID, CreatedAt: l.CreatedAt, Source: codersdk.LogSource(l.Source),
			Level: codersdk.ProvisionerLogLevel(l.Level), Stage: l.Stage, Output: l.Output})
	}
	return out
}

// serveJobLogs answers GET .../logs[?after=N][&follow]. Following upgrades
// to a websocket that sends each line as a JSON message and closes
// normally when the job has ended and every line was sent.
func (api *API) serveJobLogs(w http.ResponseWriter, r *http.Request, jobID uuid.UUID) {
	ctx := r.Context()
	q := r.URL.Query()
	var after int64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			httpapi.Validation(w, "Invalid query parameters.", []codersdk.ValidationError{{Field: "after", Detail: "must be a non-negative integer"}})
			return
		}
		after = n
	}
	_, follow := q["follow"]
	if !follow {
		rows, err := api.opts.DB.GetProvisionerJobLogsAfter(ctx, jobID, after)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get logs", err)
			return
		}
		httpapi.Write(w, http.StatusOK, convertLogs(rows))
		return
	}
	// Subscribe before the first read so no line falls between the two.
	wake := make(chan struct{}, 1)
	notify := func([]byte, error) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	cancelSub, err := api.opts.Pubsub.Subscribe(ctx, database.ChannelJobLogs(jobID), notify)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "subscribe to logs", err)
		return
	}
	defer cancelSub()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx = conn.CloseRead(ctx)
	// A safety-net poll covers lost notifications.
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	for {
		job, err := api.opts.DB.GetProvisionerJobByID(ctx, jobID)
		if err != nil {
			_ = conn.Close(websocket.StatusInternalError, "get job")
			return
		}
		for {
			rows, err := api.opts.DB.GetProvisionerJobLogsAfter(ctx, jobID, after)
			if err != nil {
				_ = conn.Close(websocket.StatusInternalError, "get logs")
				return
			}
			for _, l := range convertLogs(rows) {
				if err := wsjson.Write(ctx, conn, l); err != nil {
					return
				}
				after = l.ID
			}
			if len(rows) < 10000 {
				break
			}
		}
		if job.CompletedAt != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "job ended: "+job.Status)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-ticker.C:
		}
	}
}
