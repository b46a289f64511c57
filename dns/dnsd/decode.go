package dnsd

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// decodeHook converts YAML and environment strings to the config's types
// like viper's default hooks do, but its errors name the value and what
// was expected: `"5x" is not a duration (want e.g. 500ms, 2s, 1m)` instead
// of `time: unknown unit`.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(
		func(f, t reflect.Type, data any) (any, error) {
			s, ok := data.(string)
			if !ok || f.Kind() != reflect.String {
				return data, nil
			}
			switch {
			case t == reflect.TypeOf(time.Duration(0)):
				d, err := time.ParseDuration(strings.TrimSpace(s))
				if err != nil {
					return nil, fmt.Errorf("%q is not a duration (want e.g. 500ms, 2s, 1m)", s)
				}
				return d, nil
			case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
				if _, err := strconv.ParseInt(strings.TrimSpace(s), 10, t.Bits()); err != nil {
					return nil, fmt.Errorf("%q is not a whole number", s)
				}
			case t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
				if _, err := strconv.ParseUint(strings.TrimSpace(s), 10, t.Bits()); err != nil {
					return nil, fmt.Errorf("%q is not a whole number from 0", s)
				}
			case t.Kind() == reflect.Bool:
				if _, err := strconv.ParseBool(strings.TrimSpace(s)); err != nil {
					return nil, fmt.Errorf("%q is not true or false", s)
				}
			}
			return data, nil
		},
		mapstructure.StringToSliceHookFunc(","),
	)
}

// decodeError rewrites mapstructure's error list as "key: what is wrong"
// lines, without its preamble.
func decodeError(err error) error {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		var de *mapstructure.DecodeError
		switch {
		case errors.As(e, &de) && de == e:
			msg := de.Unwrap().Error()
			var pe *mapstructure.ParseError
			if errors.As(de.Unwrap(), &pe) {
				msg = fmt.Sprintf("%v is not a %s", pe.Value, pe.Expected.Type())
			}
			lines = append(lines, de.Name()+": "+msg)
		default:
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
			lines = append(lines, e.Error())
		}
	}
	walk(err)
	return errors.New(strings.Join(lines, "; "))
}
