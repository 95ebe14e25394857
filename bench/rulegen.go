package bench

import (
	"fmt"
	"math/rand"
	"strings"
)

// categories are the simulator's (possim) categories, so generated rules
// meet the traffic they are benchmarked on.
var categories = []string{"coffee", "tea", "dairy", "bakery", "produce", "meat", "seafood", "frozen",
	"snacks", "beverages", "beer", "wine", "baby", "pet", "household", "personal-care", "pharmacy",
	"deli", "cereal", "pasta", "breakfast", "condiments", "canned", "cleaning", "paper", "health",
	"beauty", "toys", "garden", "electronics"}

// Rules returns n rules in YAML, deterministic for a seed, mixing what
// marketers write: category spend thresholds over windows, replenishment
// reminders at check-in, store-specific basket thresholds, SKU cross-sells
// and lapsed-shopper welcomes.
func Rules(n int, seed int64) string {
	rng := rand.New(rand.NewSource(seed))
	var b strings.Builder
	windows := []string{"7d", "14d", "30d", "60d", "90d"}
	for i := 0; i < n; i++ {
		cat := categories[rng.Intn(len(categories))]
		other := categories[rng.Intn(len(categories))]
		var when string
		switch i % 5 {
		case 0:
			when = fmt.Sprintf(`swipe.store_id == "s%03d" && inBasket(%q) && categorySpend(%q, %q) > %d`, 1+rng.Intn(8), cat, cat, windows[rng.Intn(len(windows))], 2000+rng.Intn(10000))
		case 1:
			when = fmt.Sprintf(`swipe.kind == "checkin" && daysSinceBought(%q) >= %d && categorySpend(%q, "90d") > %d`, cat, 10+rng.Intn(30), cat, 2000+rng.Intn(6000))
		case 2:
			when = fmt.Sprintf(`swipe.kind == "purchase" && swipe.store_id == "s%03d" && swipe.total_cents >= %d`, 1+rng.Intn(8), 12000+rng.Intn(20000))
		case 3:
			when = fmt.Sprintf(`basketHas("%s-%04d") && !hasBought("%s-%04d")`, cat, rng.Intn(30), other, rng.Intn(30))
		case 4:
			when = fmt.Sprintf(`swipe.kind == "purchase" && swipe.store_id == "s%03d" && profile.visits >= %d && spend("%s") == swipe.total_cents`, 1+rng.Intn(8), 2+rng.Intn(4), windows[rng.Intn(3)])
		}
		fmt.Fprintf(&b, "---\nid: gen-%05d\npriority: %d\nwhen: '%s'\nchannels: [%s]\noffer:\n  title: \"Offer %d for {{ .Swipe.CardID }}\"\n  coupon: { discount_percent: %d, categories: [%s] }\n",
			i, rng.Intn(100), when, []string{"mobile", "pos", "email"}[rng.Intn(3)], i, 5+rng.Intn(30), cat)
	}
	return b.String()
}
