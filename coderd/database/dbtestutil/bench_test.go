package dbtestutil

import (
	"context"
	"testing"
	"time"
)

// BenchmarkNewDB measures what a test pays for its database. "NewDB" is the
// public call: it clones the template, and the clones are dropped by the
// cleanup after each round of b.N calls, so ns/op is creation alone.
// "CreateDrop" is the full cycle, one after another and from parallel
// goroutines, as parallel tests do.
func BenchmarkNewDB(b *testing.B) {
	b.Run("NewDB", func(b *testing.B) {
		NewDB(b) // one-time setup outside the measurement
		b.ResetTimer()
		for b.Loop() {
			NewDB(b)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/db")
	})
	NewDB(b)
	b.Run("CreateDrop", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for b.Loop() {
			createDrop(ctx, b)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/cycle")
	})
	b.Run("CreateDropParallel", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				createDrop(ctx, b)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
}

func createDrop(ctx context.Context, b *testing.B) {
	db, err := process.createDB(ctx)
	if err != nil {
		b.Error(err)
		return
	}
	if err := process.dropDB(ctx, db); err != nil {
		b.Error(err)
	}
}
