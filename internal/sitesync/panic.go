package sitesync

import (
	"fmt"
	"runtime/debug"
)

// PanicError is a panic in one of the sync's worker goroutines, turned into an error:
// a panic there would otherwise end the whole process (a recover in the caller's
// goroutine cannot catch it), and the Lambda action would leave its job without a
// result.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error (panic: %v); this is a bug, please report it with this stack:\n%s", e.Value, e.Stack)
}

// recovered wraps a worker so that its panic becomes a *PanicError.
func recovered(f func() error) func() error {
	return func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = &PanicError{Value: v, Stack: string(debug.Stack())}
			}
		}()
		return f()
	}
}
