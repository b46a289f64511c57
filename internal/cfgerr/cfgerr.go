// Package cfgerr is the one error type for a refused configuration value:
// every validator (lbd, lb/l4, dnsd, GeoDNS, the resolver, the simulated
// world, webd's knobs) names the key, the value and what was expected, in
// one shape: `key: value: what is expected`.
package cfgerr

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Error is one refused value.
type Error struct {
	Key      string // the full key, e.g. "pools[0].backends[1].address"
	Value    any    // the value as given; nil when there is none to show
	Expected string // what was expected, or why the value is refused
}

// New is an *Error whose expectation is a format.
func New(key string, value any, format string, args ...any) *Error {
	if len(args) > 0 {
		format = fmt.Sprintf(format, args...)
	}
	return &Error{Key: key, Value: value, Expected: format}
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	if e.Value != nil {
		b.WriteString(FormatValue(e.Value))
		b.WriteString(": ")
	}
	b.WriteString(e.Expected)
	return b.String()
}

// FormatValue shows a value the way an error quotes it: strings in quotes
// (so an empty one is visible), nil pointers as null, pointers by what
// they point at, anything else with %v.
func FormatValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
			return "null"
		}
		return x.String()
	case error:
		return x.Error()
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "null"
		}
		return FormatValue(rv.Elem().Interface())
	}
	return fmt.Sprint(v)
}

// List is every refused value of one validation, in the order found.
type List []*Error

// Add appends a refused value.
func (l *List) Add(key string, value any, format string, args ...any) {
	*l = append(*l, New(key, value, format, args...))
}

// Append adds err: its *Errors when it holds any (a List, an *Error, or
// errors joined or wrapped around them), else err itself under key.
func (l *List) Append(key string, err error) {
	if err == nil {
		return
	}
	if found := All(err); len(found) > 0 {
		*l = append(*l, found...)
		return
	}
	*l = append(*l, &Error{Key: key, Expected: err.Error()})
}

// Err is nil when nothing was refused, else the list.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Error is one line per refused value.
func (l List) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (l List) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// All returns every *Error in err's tree (List, errors.Join, %w).
func All(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case *Error:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, u := range x.Unwrap() {
				walk(u)
			}
		default:
			walk(errors.Unwrap(e))
		}
	}
	walk(err)
	return out
}

// Prefix puts prefix (e.g. "resolver.") before the key of every *Error
// in err; an error holding none becomes one *Error with key
// strings.TrimSuffix(prefix, ".").
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	found := All(err)
	if len(found) == 0 {
		return New(strings.TrimSuffix(prefix, "."), nil, "%s", err.Error())
	}
	out := make(List, len(found))
	for i, e := range found {
		c := *e
		c.Key = join(prefix, e.Key)
		out[i] = &c
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func join(prefix, key string) string {
	switch {
	case key == "":
		return strings.TrimSuffix(prefix, ".")
	case strings.HasPrefix(key, "["):
		return strings.TrimSuffix(prefix, ".") + key
	}
	return prefix + key
}
