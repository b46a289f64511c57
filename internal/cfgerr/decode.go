package cfgerr

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// DecodeHook converts YAML, environment and flag strings to a config's
// types like viper's default hooks do, but its errors are *Error naming
// the value and what was expected (`"5x": not a duration such as 500ms,
// 2s or 1m` instead of `time: unknown unit`); Decode adds the key.
func DecodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(scalarHook, mapstructure.StringToSliceHookFunc(","))
}

var durationType = reflect.TypeOf(time.Duration(0))

func scalarHook(f, t reflect.Type, data any) (any, error) {
	if t == durationType && f != durationType && isNumber(f) {
		// YAML `timeout: 5` would be 5 ns: a number needs its unit.
		// Zero stays allowed ("none" wherever a key allows it).
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, New("", data, "a duration needs a unit, such as 5s, 500ms or 1m")
	}
	s, ok := data.(string)
	if !ok || f.Kind() != reflect.String {
		return data, nil
	}
	v := strings.TrimSpace(s)
	switch {
	case t == durationType:
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, New("", s, "not a duration such as 500ms, 2s or 1m")
		}
		return d, nil
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if _, err := strconv.ParseInt(v, 10, t.Bits()); err != nil {
			return nil, New("", s, "not a whole number")
		}
	case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		if _, err := strconv.ParseUint(v, 10, t.Bits()); err != nil {
			return nil, New("", s, "not a whole number from 0")
		}
	case t.Kind() == reflect.Bool:
		if _, err := strconv.ParseBool(v); err != nil {
			return nil, New("", s, "not true or false")
		}
	}
	return data, nil
}

func isNumber(t reflect.Type) bool {
	k := t.Kind()
	return k >= reflect.Int && k <= reflect.Float64
}

// Decode rewrites mapstructure's (and so viper's Unmarshal's) errors as a
// List: one *Error per field, keyed by the field's path, unknown keys one
// by one, without the library's preamble. Errors of another kind pass
// through unchanged.
func Decode(err error) error {
	if err == nil {
		return nil
	}
	var l List
	var other []error
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		if errors.As(e, &de) && de == e {
			l = append(l, fromDecodeError(de)...)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		other = append(other, e)
	}
	walk(err)
	if len(l) == 0 {
		return err
	}
	for _, o := range other {
		l.Append("", o)
	}
	return l
}

func fromDecodeError(de *mapstructure.DecodeError) []*Error {
	inner := de.Unwrap()
	var ce *Error
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(inner, &ce):
		c := *ce
		c.Key = de.Name()
		return []*Error{&c}
	case errors.As(inner, &pe):
		return []*Error{New(de.Name(), pe.Value, "not a %s", pe.Expected.Type())}
	case errors.As(inner, &ue):
		return []*Error{New(de.Name(), ue.Value, "not a %s", ue.Expected.Type())}
	}
	if keys, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
		var out []*Error
		for _, k := range strings.Split(keys, ", ") {
			if de.Name() != "" {
				k = de.Name() + "." + k
			}
			out = append(out, New(k, nil, "unknown key"))
		}
		return out
	}
	return []*Error{New(de.Name(), nil, "%s", inner.Error())}
}
