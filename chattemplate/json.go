package chattemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// DecodeJSON decodes JSON as JavaScript's JSON.parse does for the values a
// template sees: objects become Object with the keys in JavaScript's order
// (integer-like keys first, ascending; then the rest in document order; a
// repeated key keeps its first place and its last value), numbers float64.
func DecodeJSON(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, fmt.Errorf("chat template: trailing data after JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch x := t.(type) {
	case json.Delim:
		switch x {
		case '[':
			arr := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := d.Token()
			return arr, err
		case '{':
			var ints, rest Object
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k := kt.(string)
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				ints, rest = putKey(ints, rest, k, v)
			}
			_, err := d.Token()
			return append(sortIntKeys(ints), rest...), err
		}
	case json.Number:
		return x.Float64()
	}
	return t, nil
}

// isArrayIndex reports whether k is a canonical array index (JavaScript
// orders those keys first).
func isArrayIndex(k string) bool {
	n, err := strconv.ParseUint(k, 10, 32)
	return err == nil && n < 1<<32-1 && strconv.FormatUint(n, 10) == k
}

func putKey(ints, rest Object, k string, v any) (Object, Object) {
	list := &rest
	if isArrayIndex(k) {
		list = &ints
	}
	for i := range *list {
		if (*list)[i].Key == k {
			(*list)[i].Value = v
			return ints, rest
		}
	}
	*list = append(*list, Field{k, v})
	return ints, rest
}

func sortIntKeys(o Object) Object {
	for i := 1; i < len(o); i++ {
		for j := i; j > 0; j-- {
			a, _ := strconv.ParseUint(o[j-1].Key, 10, 32)
			b, _ := strconv.ParseUint(o[j].Key, 10, 32)
			if a <= b {
				break
			}
			o[j-1], o[j] = o[j], o[j-1]
		}
	}
	return o
}
