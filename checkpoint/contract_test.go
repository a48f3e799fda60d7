package checkpoint_test

import (
	"testing"

	"github.com/exportd/exportd/checkpoint/storetest"
)

// TestContract: the bbolt store keeps the contract every store of export
// records keeps (the cluster's too).
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return openStore(t) })
}
