package reconnectingpty_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/reconnectingpty"
)

// frame is an init message as a client sends it: a 2-byte little-endian
// length, then the body.
func frame(body string) []byte {
	return append(binary.LittleEndian.AppendUint16(nil, uint16(len(body))), body...)
}

// FuzzReadInit feeds arbitrary bytes to the parser of the first message of
// a connection, which comes from the network. It must never panic, never
// read past the announced length (the input stream follows it), accept
// only a valid id in canonical form, and what it accepts must survive
// WriteInit and ReadInit unchanged.
func FuzzReadInit(f *testing.F) {
	id := uuid.NewString()
	for _, seed := range [][]byte{
		frame(`{"id":"` + id + `","height":24,"width":80,"command":"htop"}`),
		append(frame(`{"id":"`+id+`"}`), `{"data":"ls\r"}`...),             // input follows
		frame(`{"id":"{` + id + `}","height":65535,"width":1}`),            // another spelling of an id
		frame(`{"id":"urn:uuid:` + id + `"}`),                              // and another
		frame(`{"id":"not-a-uuid"}`),                                       // bad id
		frame(`{"id":"` + id + `","height":65536}`),                        // too tall for a uint16
		frame(`{"id":"` + id + `","command":"\u003cscript\u003e \ud800"}`), // escapes
		frame(`{"id":"` + id + `"`),                                        // truncated JSON
		frame(`[]`),                                                        // not an object
		frame(``),                                                          // empty body
		{0x10},                                                             // a short length
		{0xff, 0xff, '{'},                                                  // a long length, short body
		append(binary.LittleEndian.AppendUint16(nil, 2), `{}extra`...),     // an empty object
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		init, err := reconnectingpty.ReadInit(r)
		if err != nil {
			return
		}
		n := int(binary.LittleEndian.Uint16(data))
		require.Equal(t, len(data)-2-n, r.Len(), "read exactly the announced body")
		parsed, perr := uuid.Parse(init.ID)
		require.NoError(t, perr)
		require.Equal(t, parsed.String(), init.ID, "the id is canonical")

		var buf bytes.Buffer
		if err := reconnectingpty.WriteInit(&buf, init); err != nil {
			// Re-encoding may escape characters and outgrow the limit;
			// that is the only reason it may fail.
			require.ErrorContains(t, err, "exceeds the 65535-byte limit")
			return
		}
		again, err := reconnectingpty.ReadInit(&buf)
		require.NoError(t, err)
		require.Equal(t, init, again)
		require.Zero(t, buf.Len())
	})
}
