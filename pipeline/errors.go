package pipeline

import "errors"

var (
	// ErrConfig is wrapped by Run's error when the Config cannot work.
	ErrConfig = errors.New("pipeline config")
	// ErrArraySortKey means a record's sort value is an array (or lies
	// under one). MongoDB orders such records by one of the array's
	// elements, which no keyset condition (source.After) can follow, so an
	// export sorted on it could not resume exactly and is refused.
	ErrArraySortKey = errors.New("sort value is an array")
)
