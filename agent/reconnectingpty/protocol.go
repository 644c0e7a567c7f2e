package reconnectingpty

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// Init is the first message of a connection: which terminal to attach to,
// and how to create it if it does not exist.
type Init struct {
	ID      string `json:"id"`
	Height  uint16 `json:"height"`
	Width   uint16 `json:"width"`
	Command string `json:"command"`
}

// ClientMessage is one input event sent after Init.
type ClientMessage struct {
	Data   string `json:"data,omitempty"`
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
}

// WriteInit writes the length-prefixed init message, as a client does.
func WriteInit(w io.Writer, init Init) error {
	body, err := json.Marshal(init)
	if err != nil {
		return fmt.Errorf("encode init: %w", err)
	}
	if len(body) > 0xffff {
		return fmt.Errorf("encode init: %d bytes exceeds the 65535-byte limit", len(body))
	}
	msg := make([]byte, 2, 2+len(body))
	binary.LittleEndian.PutUint16(msg, uint16(len(body)))
	if _, err := w.Write(append(msg, body...)); err != nil {
		return fmt.Errorf("write init: %w", err)
	}
	return nil
}

// ReadInit reads and validates the length-prefixed init message.
func ReadInit(r io.Reader) (Init, error) {
	var size [2]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return Init{}, fmt.Errorf("read init length: %w", err)
	}
	body := make([]byte, binary.LittleEndian.Uint16(size[:]))
	if _, err := io.ReadFull(r, body); err != nil {
		return Init{}, fmt.Errorf("read init: %w", err)
	}
	var init Init
	if err := json.Unmarshal(body, &init); err != nil {
		return Init{}, fmt.Errorf("decode init: %w", err)
	}
	id, err := uuid.Parse(init.ID)
	if err != nil {
		return Init{}, fmt.Errorf("init id %q: %w", init.ID, err)
	}
	init.ID = id.String() // canonical form, so spellings of one id match
	return init, nil
}
