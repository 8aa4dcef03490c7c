package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"iter"
)

// The json, junit and resume.json writers stream: each row is encoded when
// its turn comes and goes to a buffered writer, so writing 20,000 rows holds
// the run's one slice of rows and a buffer, not a second copy of the rows
// nor the whole document in memory (docs/PERFORMANCE.md, "Writing large
// reports").

// bufferSize is the buffer between the encoders and the file or stdout.
const bufferSize = 64 << 10

func newBuffered(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, bufferSize) }

// writeArray writes seq as a JSON array, one element at a time, indented
// exactly as json.MarshalIndent(slice, prefix, "  ") indents it ("[]" when
// empty), and returns how many elements it wrote. Write errors stick in w
// and come back from its Flush.
func writeArray[T any](w *bufio.Writer, prefix string, seq iter.Seq[T]) (int, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent(prefix+"  ", "  ")
	n := 0
	for v := range seq {
		buf.Reset()
		if err := enc.Encode(v); err != nil {
			return n, err
		}
		if n == 0 {
			w.WriteString("[\n")
		} else {
			w.WriteString(",\n")
		}
		w.WriteString(prefix + "  ")
		w.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))) // Encode ends with a newline
		n++
	}
	if n == 0 {
		w.WriteString("[]")
	} else {
		w.WriteString("\n" + prefix + "]")
	}
	return n, nil
}
