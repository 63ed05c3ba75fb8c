package mapfile

import "errors"

// Load maps the file at path and hands its bytes to parse. When parse fails
// the mapping is released at once; otherwise the caller owns it and calls
// the returned release function when done with the result.
func Load[T any](path string, parse func([]byte) (T, error)) (T, func() error, error) {
	var zero T
	data, release, err := Map(path)
	if err != nil {
		return zero, nil, err
	}
	v, err := parse(data)
	if err != nil {
		return zero, nil, errors.Join(err, release())
	}
	return v, release, nil
}
