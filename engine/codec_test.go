package engine

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aislecast/loyalty"
)

func sampleProfile() *loyalty.Profile {
	p := loyalty.NewProfile("card-42")
	t0 := time.Date(2026, 8, 1, 9, 0, 0, 0, time.FixedZone("", -5*3600))
	for i := 0; i < 40; i++ {
		s := &loyalty.Swipe{SwipeID: fmt.Sprint("s", i), CardID: "card-42", Kind: loyalty.KindPurchase, StoreID: "st", TS: t0.Add(time.Duration(i) * 53 * time.Hour)}
		for j, cat := range []string{"coffee", "dairy", "bakery", "produce"}[:1+i%4] {
			s.Items = append(s.Items, loyalty.Item{SKU: fmt.Sprintf("%s-%d", cat, (i+j)%7), Category: cat, Qty: int64(1 + j), UnitPriceCents: int64(199 + 100*j)})
			s.TotalCents += int64(1+j) * int64(199+100*j)
		}
		p.Apply(s)
		p.LastOffset = int64(1000 + i)
	}
	return p
}

func TestProfileCodecRoundTrip(t *testing.T) {
	for _, p := range []*loyalty.Profile{loyalty.NewProfile("empty"), sampleProfile()} {
		enc := AppendProfile(nil, p)
		got, err := DecodeProfile(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip changed the profile:\n got %+v\nwant %+v", got, p)
		}
	}
	p := sampleProfile()
	n := len(AppendProfile(nil, p))
	if hint := EncodedSizeHint(p); hint < n {
		t.Errorf("size hint %d below the encoding's %d bytes", hint, n)
	}
	t.Logf("realistic profile: %d bytes encoded", n)
}

func TestDecodeProfileRejectsCorruption(t *testing.T) {
	enc := AppendProfile(nil, sampleProfile())
	for _, bad := range [][]byte{nil, {9}, enc[:len(enc)/2], append(append([]byte(nil), enc...), 0)} {
		if _, err := DecodeProfile(bad); err == nil {
			t.Errorf("accepted corrupt encoding of %d bytes", len(bad))
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add(AppendProfile(nil, sampleProfile()))
	f.Add(AppendProfile(nil, loyalty.NewProfile("x")))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProfile(data)
		if err != nil {
			return
		}
		// Whatever decodes must encode back to the same bytes.
		if again := AppendProfile(nil, p); string(again) != string(data) {
			t.Fatalf("decode/encode not stable: %x vs %x", again, data)
		}
	})
}
