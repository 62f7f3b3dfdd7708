// Package nilcheck finds nil values hidden in interfaces.
package nilcheck

import "reflect"

// IsNil reports whether v is nil or holds a nil pointer, map, slice,
// channel, func or interface: a value whose methods most likely panic. A
// nil *T stored in an interface is not == nil, so constructors check with
// it to refuse such a value with an error instead of a panic at first use.
func IsNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
