package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opencoder/coder/agent/agentexec"
	"github.com/opencoder/coder/codersdk"
)

// Agent metadata: every metadata block of the coder_agent is a script the
// agent runs with the user's shell and the workspace environment, every
// interval seconds (interval 0: once, at start, as in the incumbent),
// bounded by its timeout. The trimmed standard output is the value; a
// failure (exit status and standard error), a start error or a timeout is
// the error.
//
// Each key has its own loop, so one key's runs never overlap (the next run
// starts at the next interval boundary after the previous one ended) and a
// slow script delays only itself. Loops only record results; one reporter
// sends what changed, in batches, retrying with backoff while coderd is
// unreachable, always with the latest result of each key (the same shape
// as apphealth.go).

const (
	// metadataBatchWindow is how long the reporter waits after the first
	// new result before sending, so keys that run together share a
	// request.
	metadataBatchWindow = time.Second
	// metadataRefresh is how often an unchanged result is reported again,
	// so the age users see tells whether the agent still collects it.
	metadataRefresh = 30 * time.Second
	// metadataWaitDelay bounds how long a timed-out script's output pipes
	// are waited for after its process group was killed.
	metadataWaitDelay = time.Second
)

// metadataRunner runs one script, bounded by ctx, and returns its result
// (value and error filled in; CollectedAt is set by the caller).
type metadataRunner func(ctx context.Context, script string) codersdk.WorkspaceAgentMetadataResult

// metadataReporter sends a batch of results to coderd.
type metadataReporter func(ctx context.Context, batch []codersdk.AgentMetadataReport) error

// agentMetadataOptions configure an agentMetadata; tests shorten the
// delays.
type agentMetadataOptions struct {
	Items  []codersdk.ProvisionerAgentMetadata
	Run    metadataRunner
	Report metadataReporter
	Logger *slog.Logger
	// Unit is the length of one interval or timeout "second" (tests make
	// it shorter); defaults to time.Second.
	Unit time.Duration
	// BatchWindow defaults to metadataBatchWindow; negative means none.
	BatchWindow time.Duration
	// Refresh defaults to metadataRefresh.
	Refresh time.Duration
	// RetryMin and RetryMax bound the report backoff.
	RetryMin, RetryMax time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// sentMetadata is what the reporter last had accepted for a key.
type sentMetadata struct {
	value, err string
	at         time.Time
}

// agentMetadata runs metadata scripts and reports their results. Its run
// method owns every goroutine it starts.
type agentMetadata struct {
	// Set at construction, then read-only.
	opts agentMetadataOptions
	log  *slog.Logger
	wake chan struct{} // capacity 1: pending has something new

	mu       sync.Mutex                                       // guards the fields below
	pending  map[string]codersdk.WorkspaceAgentMetadataResult // not yet sent
	reported map[string]sentMetadata                          // what coderd last accepted
}

func newAgentMetadata(opts agentMetadataOptions) *agentMetadata {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Unit <= 0 {
		opts.Unit = time.Second
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = metadataBatchWindow
	}
	if opts.Refresh <= 0 {
		opts.Refresh = metadataRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &agentMetadata{
		opts: opts, log: opts.Logger, wake: make(chan struct{}, 1),
		pending: map[string]codersdk.WorkspaceAgentMetadataResult{}, reported: map[string]sentMetadata{},
	}
}

// run collects and reports until ctx ends, and returns once every
// goroutine it started has ended.
func (m *agentMetadata) run(ctx context.Context) {
	if len(m.opts.Items) == 0 {
		return
	}
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, item := range m.opts.Items {
		// coderd validated the keys at import; a duplicate here would
		// make two loops race on one key, so it is skipped loudly.
		if item.Key == "" || seen[item.Key] {
			m.log.Error("skipping a metadata item with an empty or duplicate key", "key", item.Key)
			continue
		}
		seen[item.Key] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.collectLoop(ctx, item)
		}()
	}
	m.reportLoop(ctx)
	wg.Wait()
}

// collectLoop runs one item's script every interval (once for interval 0)
// until ctx ends. Runs are sequential, so never two at once.
func (m *agentMetadata) collectLoop(ctx context.Context, item codersdk.ProvisionerAgentMetadata) {
	interval := time.Duration(item.Interval) * m.opts.Unit
	timeout := time.Duration(item.EffectiveTimeout()) * m.opts.Unit
	for {
		start := m.opts.Now()
		rctx, cancel := context.WithTimeout(ctx, timeout)
		res := m.opts.Run(rctx, item.Script)
		cancel()
		if ctx.Err() != nil {
			return
		}
		res.CollectedAt = m.opts.Now()
		m.record(item.Key, res)
		if interval <= 0 {
			return
		}
		// The next run starts interval after this one started, or at
		// once when this one took longer than that.
		if wait := interval - m.opts.Now().Sub(start); wait > 0 && !sleep(ctx, wait) {
			return
		}
	}
}

// record queues a result for the reporter: a changed value or error at
// once, an unchanged one only when coderd's copy is older than Refresh.
func (m *agentMetadata) record(key string, res codersdk.WorkspaceAgentMetadataResult) {
	m.mu.Lock()
	last, ok := m.reported[key]
	if ok && last.value == res.Value && last.err == res.Error && res.CollectedAt.Sub(last.at) < m.opts.Refresh {
		m.mu.Unlock()
		return
	}
	m.pending[key] = res
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// takePending returns the queued results, sorted by key, and clears them.
func (m *agentMetadata) takePending() []codersdk.AgentMetadataReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	batch := make([]codersdk.AgentMetadataReport, 0, len(m.pending))
	for key, res := range m.pending {
		batch = append(batch, codersdk.AgentMetadataReport{Key: key, WorkspaceAgentMetadataResult: res})
	}
	clear(m.pending)
	sortReports(batch)
	return batch
}

// settle records the outcome of sending batch: accepted, or queued again
// for a retry unless a newer result of the same key was recorded since.
func (m *agentMetadata) settle(batch []codersdk.AgentMetadataReport, accepted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range batch {
		if accepted {
			m.reported[r.Key] = sentMetadata{value: r.Value, err: r.Error, at: r.CollectedAt}
		} else if _, newer := m.pending[r.Key]; !newer {
			m.pending[r.Key] = r.WorkspaceAgentMetadataResult
		}
	}
}

// reportLoop sends the queued results until ctx ends (batchReporter).
func (m *agentMetadata) reportLoop(ctx context.Context) {
	batchReporter[[]codersdk.AgentMetadataReport]{
		log: m.log, what: "metadata", wake: m.wake, batchWindow: m.opts.BatchWindow,
		retryMin: m.opts.RetryMin, retryMax: m.opts.RetryMax,
		take: func() ([]codersdk.AgentMetadataReport, bool) {
			b := m.takePending()
			return b, len(b) > 0
		},
		report: m.opts.Report, settle: m.settle,
	}.run(ctx)
}

func sortReports(b []codersdk.AgentMetadataReport) {
	slices.SortFunc(b, func(x, y codersdk.AgentMetadataReport) int { return strings.Compare(x.Key, y.Key) })
}

// cappedBuffer keeps the first max bytes written to it and counts the
// rest, so a chatty script cannot grow the agent's memory.
type cappedBuffer struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	room := c.max - c.buf.Len()
	if room < len(p) {
		c.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
	}
	c.buf.Write(p)
	return n, nil
}

// text is the trimmed output, cut to a whole UTF-8 sequence when the cap
// cut one in half. Output past the cap ends with a marker saying how much
// was dropped, within the cap, so a truncated value is never mistaken for
// a whole one.
func (c *cappedBuffer) text() string {
	b := c.buf.Bytes()
	if c.dropped == 0 {
		return strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	// The marker's room (at most 47 bytes) comes out of the kept text, and
	// the count it reports includes what it displaced.
	const reserve = 48
	keep := b[:max(len(b)-reserve, 0)]
	for len(keep) > 0 && !utf8.Valid(keep) {
		keep = keep[:len(keep)-1]
	}
	dropped := c.dropped + len(b) - len(keep)
	return strings.TrimSpace(string(keep)) + fmt.Sprintf("… [%d more bytes not shown]", dropped)
}

// runMetadataScript runs script with shell in dir and env, bounded by ctx:
// the value is the trimmed standard output (at most
// MaxAgentMetadataValueBytes), the error says how it failed.
func runMetadataScript(ctx context.Context, shell, dir string, env []string, script string) codersdk.WorkspaceAgentMetadataResult {
	// agentexec decides how the user's shell runs a script; CommandContext
	// kills it (its whole process group, see setProcessGroup) at ctx's end.
	base := agentexec.ShellCommand(shell, script)
	cmd := exec.CommandContext(ctx, base.Path, base.Args[1:]...)
	cmd.Args = base.Args
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = metadataWaitDelay
	setProcessGroup(cmd)
	stdout := &cappedBuffer{max: codersdk.MaxAgentMetadataValueBytes}
	stderr := &cappedBuffer{max: codersdk.MaxAgentMetadataValueBytes}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	res := codersdk.WorkspaceAgentMetadataResult{Value: stdout.text()}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Error = "timed out"
	case err != nil:
		msg := err.Error()
		if s := stderr.text(); s != "" {
			msg += ": " + s
		}
		res.Error = truncateText(msg)
	}
	return res
}

// truncateText cuts s to MaxAgentMetadataValueBytes on a rune boundary.
func truncateText(s string) string {
	if len(s) <= codersdk.MaxAgentMetadataValueBytes {
		return s
	}
	s = s[:codersdk.MaxAgentMetadataValueBytes]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// metadataLoop runs the manifest's metadata scripts until ctx ends,
// reporting to coderd.
func (a *Agent) metadataLoop(ctx context.Context) {
	if len(a.manifest.Metadata) == 0 {
		return
	}
	shell := agentexec.UserShell()
	dir := agentexec.WorkingDir(expandDir(a.manifest.Directory))
	env := append(os.Environ(), a.commandEnv()...)
	newAgentMetadata(agentMetadataOptions{
		Items:  a.manifest.Metadata,
		Logger: a.log.With("component", "metadata"),
		Run: func(ctx context.Context, script string) codersdk.WorkspaceAgentMetadataResult {
			return runMetadataScript(ctx, shell, dir, env, script)
		},
		Report: func(ctx context.Context, batch []codersdk.AgentMetadataReport) error {
			return a.opts.Client.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: batch})
		},
	}).run(ctx)
}
