package sqlite

import (
	"database/sql"
	"sync"
)

// walk steps a query's rows in a goroutine of its own, handing them over
// in batches: the rows of one batch are decoded (Walk) while the next batch
// is read. Batches are reused, so that reading 100,000 rows allocates a few
// batches, not a copy of every value.
type walk struct {
	full chan *walkBatch // read, in row order; closed after the last
	free chan *walkBatch // given back once decoded
	quit chan struct{}
	done sync.WaitGroup
	once sync.Once
}

// walkBatch is up to walkBatchRows rows, their copied values in buf; err is
// the error that ended the rows, if any (the batch is then the last).
type walkBatch struct {
	rows []rawRow
	buf  []byte
	err  error
}

const (
	walkBatchRows = 256
	walkBatches   = 3 // one being read, one being decoded, one waiting
)

// startWalk starts reading rows; it owns rows and closes them.
func startWalk(rows *sql.Rows) *walk {
	w := &walk{
		full: make(chan *walkBatch, walkBatches),
		free: make(chan *walkBatch, walkBatches),
		quit: make(chan struct{}),
	}
	for range walkBatches {
		w.free <- &walkBatch{rows: make([]rawRow, 0, walkBatchRows)}
	}
	w.done.Add(1)
	go w.read(rows)
	return w
}

func (w *walk) read(rows *sql.Rows) {
	defer w.done.Done()
	defer close(w.full)
	defer rows.Close()
	var raw [7]sql.RawBytes // reused: Scan appends into their memory
	for {
		var b *walkBatch
		select {
		case b = <-w.free:
		case <-w.quit:
			return
		}
		b.rows, b.buf, b.err = b.rows[:0], b.buf[:0], nil
		last := false
		for len(b.rows) < walkBatchRows {
			if !rows.Next() {
				b.err, last = rows.Err(), true
				break
			}
			b.rows = append(b.rows, rawRow{})
			var err error
			if b.buf, err = scanRaw(rows, &b.rows[len(b.rows)-1], &raw, b.buf); err != nil {
				b.rows = b.rows[:len(b.rows)-1]
				b.err, last = err, true
				break
			}
		}
		select {
		case w.full <- b:
		case <-w.quit:
			return
		}
		if last {
			return
		}
	}
}

// stop ends the reading goroutine, if it still runs, and waits for it: the
// rows are closed when stop returns.
func (w *walk) stop() {
	w.once.Do(func() { close(w.quit) })
	w.done.Wait()
}
