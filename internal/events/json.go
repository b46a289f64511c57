package events

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// FieldAppender is an Event that encodes its own fields, faster than
// encoding/json's reflection: AppendFields appends `"key":value` pairs
// separated by commas, without braces (nothing for no fields). Streams use
// it when an event has it; encoding happens in the stream's goroutine, so
// a cheap encoder keeps a reading subscriber's cost on the CPU low.
type FieldAppender interface {
	AppendFields(dst []byte) []byte
}

// Object returns {fields} of a FieldAppender, for its MarshalJSON.
func Object(f FieldAppender) []byte {
	b := append(f.AppendFields([]byte{'{'}), '}')
	return b
}

func appendFields(dst []byte, e Event) []byte {
	if f, ok := e.(FieldAppender); ok {
		dst = append(dst, ',')
		n := len(dst)
		if dst = f.AppendFields(dst); len(dst) == n {
			dst = dst[:n-1]
		}
		return dst
	}
	body, err := json.Marshal(e)
	if err != nil {
		body, _ = json.Marshal(map[string]string{"encoding_error": err.Error()})
	}
	if len(body) > 2 && body[0] == '{' {
		dst = append(dst, ',')
		dst = append(dst, body[1:len(body)-1]...)
	}
	return dst
}

// AppendString appends s as a JSON string.
func AppendString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		b, _ := json.Marshal(s) // replaces invalid bytes with U+FFFD
		return append(dst, b...)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hex = "0123456789abcdef"

// AppendKey appends `,"key":` (without the comma for the first field,
// when dst ends in '{' or ',' or is empty).
func AppendKey(dst []byte, key string) []byte {
	if n := len(dst); n > 0 && dst[n-1] != '{' && dst[n-1] != ',' {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// AppendStringField appends "key":"value", nothing when value is empty.
func AppendStringField(dst []byte, key, value string) []byte {
	if value == "" {
		return dst
	}
	return AppendString(AppendKey(dst, key), value)
}

// AppendStringFields appends "key":"value" for each key, value pair of
// kv (AppendStringField, pair by pair: nothing for an empty value).
func AppendStringFields(dst []byte, kv ...string) []byte {
	for i := 0; i+1 < len(kv); i += 2 {
		dst = AppendStringField(dst, kv[i], kv[i+1])
	}
	return dst
}

// AppendIntField appends "key":n.
func AppendIntField(dst []byte, key string, n int64) []byte {
	return strconv.AppendInt(AppendKey(dst, key), n, 10)
}

// AppendBoolField appends "key":true|false.
func AppendBoolField(dst []byte, key string, v bool) []byte {
	return strconv.AppendBool(AppendKey(dst, key), v)
}

// AppendStrings appends "key":["a",…], nothing when list is empty.
func AppendStrings(dst []byte, key string, list []string) []byte {
	if len(list) == 0 {
		return dst
	}
	dst = append(AppendKey(dst, key), '[')
	for i, s := range list {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendString(dst, s)
	}
	return append(dst, ']')
}
