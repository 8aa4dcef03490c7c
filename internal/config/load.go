package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
)

// Load reads a config file strictly over Default(): fields left out keep
// their default, unknown fields and wrong JSON types are errors. The
// returned error joins every problem found (errors.Join), one per field.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("config file %q does not exist; run `netctl init` to write one, or pass --config", path)
		}
		return Config{}, fmt.Errorf("reading config file: %w", err)
	}
	return Decode(b)
}

// fieldIndex maps each JSON name of Config to its struct field index.
var fieldIndex = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}()

// FieldNames returns every JSON field name of Config in declaration order.
func FieldNames() []string {
	names := make([]string, 0, len(fieldIndex))
	t := reflect.TypeOf(Config{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}

// Decode parses config.json content over Default(). It walks the top-level
// object itself instead of using json.Decoder.DisallowUnknownFields, because
// that stops at the first problem, matches names case-insensitively and
// cannot suggest the intended name.
func Decode(b []byte) (Config, error) {
	cfg := Default()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return Config{}, syntaxError(b, dec, err)
	} else if d, ok := tok.(json.Delim); !ok || d != '{' {
		return Config{}, fmt.Errorf("config must be a JSON object ({...}), found %s", describeToken(tok))
	}
	var problems []error
	seen := map[string]bool{}
	v := reflect.ValueOf(&cfg).Elem()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Config{}, syntaxError(b, dec, err)
		}
		key := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Config{}, syntaxError(b, dec, err)
		}
		idx, known := fieldIndex[key]
		if !known {
			problems = append(problems, unknownField(key))
			continue
		}
		if seen[key] {
			problems = append(problems, fmt.Errorf("%s: given more than once", key))
			continue
		}
		seen[key] = true
		if err := json.Unmarshal(raw, v.Field(idx).Addr().Interface()); err != nil {
			problems = append(problems, typeError(key, v.Field(idx).Type(), raw, err))
		}
	}
	if _, err := dec.Token(); err != nil {
		return Config{}, syntaxError(b, dec, err)
	}
	if dec.More() {
		return Config{}, errors.New("config has more content after its JSON object")
	}
	if err := errors.Join(problems...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func unknownField(key string) error {
	if s := suggest(key, FieldNames()); s != "" {
		return fmt.Errorf("unknown field %q (did you mean %q?)", key, s)
	}
	return fmt.Errorf("unknown field %q (known fields: %s)", key, strings.Join(FieldNames(), ", "))
}

// typeError names the field, what was given and what is wanted, instead of
// encoding/json's "cannot unmarshal string into Go struct field ...".
func typeError(key string, want reflect.Type, raw json.RawMessage, err error) error {
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return fmt.Errorf("%s: got %s %s, want %s", key, article(ute.Value), abbreviate(raw), describeType(want))
	}
	// Port's own UnmarshalJSON explains itself.
	return fmt.Errorf("%s: %w", key, err)
}

func article(jsonKind string) string {
	switch jsonKind {
	case "array", "object":
		return "an " + jsonKind
	case "number", "string", "bool":
		return "a " + jsonKind
	}
	return jsonKind
}

func describeType(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(Port("")):
		return `a port ("8889" or 8889)`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Int:
		return "a whole number"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Slice && t.Elem() == reflect.TypeOf(Port("")):
		return `a list of ports (["80", 443])`
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return `a list of strings (["10.0.0.1"])`
	}
	return t.String()
}

func abbreviate(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return string(t)
	case string:
		return fmt.Sprintf("a string %q", t)
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%v", t)
	}
}

// syntaxError adds the line and column to a JSON syntax error.
func syntaxError(b []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("config is not valid JSON: unexpected end of file")
	}
	line, col := 1, 1
	for _, c := range b[:min(int(off), len(b))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("config is not valid JSON: line %d, column %d: %w", line, col, err)
}
