package labs

import "context"

// MakeFault runs one fault that is not in the catalogue (tests of a break
// that fails half way).
func MakeFault(e *Env, f Fault) error {
	e.defaults()
	_, err := e.make(context.Background(), f)
	return err
}

// ChangeRRset is (*Env).changeRRset for tests' own faults.
func ChangeRRset(ctx context.Context, e *Env, b *Broken, to RRset) error {
	return e.changeRRset(ctx, b, to)
}
