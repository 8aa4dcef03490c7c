package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// UnmarshalJSON accepts "8889" (what the earlier tool wrote) and 8889.
// Range checks belong to Validate so that every problem is reported at once.
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = Port(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("got %s, want a port (\"8889\" or 8889)", b)
	}
	*p = Port(n.String())
	return nil
}

// MarshalJSON writes the port as a string, as the earlier tool did.
func (p Port) MarshalJSON() ([]byte, error) {
	return json.Marshal(string(p))
}

// Int returns the port number, or an error when it is not 1..65535.
func (p Port) Int() (int, error) {
	n, err := strconv.Atoi(string(p))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", string(p))
	}
	return n, nil
}
