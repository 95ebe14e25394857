package engine_test

import (
	"encoding/json"

	"github.com/aislecast/loyalty"
)

func decodeOffer(b []byte) (loyalty.Offer, error) {
	var o loyalty.Offer
	err := json.Unmarshal(b, &o)
	return o, err
}
