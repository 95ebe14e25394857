package possim

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// category describes one department of the simulated chain: how its prices
// range, how many SKUs it carries, how popular it is in random basket lines,
// and how often a shopper who favours it buys it again.
type category struct {
	name       string
	minCents   int64
	maxCents   int64
	skus       int
	popularity int     // relative weight in random basket lines
	everyMin   float64 // repurchase interval of a shopper who favours it, days
	everyMax   float64
	maxQty     int64 // largest quantity of one line
	favourite  int   // relative weight of being a card's favourite category
}

// categories is the product hierarchy. It is data, never mutated.
var categories = [...]category{
	{"coffee", 499, 1899, 24, 4, 10, 20, 2, 10},
	{"tea", 299, 999, 20, 2, 14, 30, 2, 4},
	{"dairy", 129, 699, 40, 9, 4, 8, 4, 6},
	{"bakery", 199, 799, 30, 7, 3, 7, 3, 5},
	{"produce", 49, 599, 48, 10, 3, 7, 6, 5},
	{"meat", 499, 2999, 36, 6, 5, 10, 3, 5},
	{"seafood", 699, 3499, 24, 2, 10, 21, 2, 2},
	{"frozen", 249, 1099, 40, 5, 7, 14, 4, 3},
	{"snacks", 199, 699, 48, 7, 5, 12, 4, 5},
	{"beverages", 99, 899, 40, 7, 5, 10, 6, 4},
	{"beer", 899, 2499, 30, 3, 7, 14, 2, 4},
	{"wine", 799, 4999, 40, 2, 7, 21, 3, 4},
	{"baby", 299, 3999, 30, 1, 5, 12, 2, 3},
	{"pet", 199, 5499, 30, 2, 14, 30, 3, 4},
	{"household", 199, 1999, 36, 3, 20, 45, 2, 1},
	{"personal-care", 199, 1499, 36, 3, 20, 40, 2, 1},
	{"pharmacy", 399, 2999, 30, 2, 20, 35, 1, 2},
	{"deli", 299, 1299, 30, 4, 4, 9, 2, 3},
	{"cereal", 249, 699, 30, 4, 8, 16, 2, 3},
	{"pasta", 99, 499, 30, 4, 10, 20, 4, 2},
	{"breakfast", 199, 899, 24, 3, 8, 16, 2, 2},
	{"condiments", 149, 699, 36, 3, 21, 45, 2, 1},
	{"canned", 89, 449, 40, 4, 10, 25, 6, 1},
	{"cleaning", 199, 1299, 30, 2, 20, 45, 2, 1},
	{"paper", 299, 2499, 20, 3, 14, 30, 2, 1},
	{"health", 399, 3999, 30, 1, 25, 50, 1, 1},
	{"beauty", 399, 4999, 36, 1, 25, 60, 2, 2},
	{"toys", 499, 4999, 30, 1, 45, 90, 1, 1},
	{"garden", 299, 6999, 24, 1, 30, 90, 2, 1},
	{"electronics", 999, 19999, 24, 1, 60, 180, 1, 1},
}

// catalogSeed fixes SKU prices independently of Config.Seed, so that
// "coffee-0007" costs the same in every simulation and rule authors can
// rely on it.
const catalogSeed = 0xca7a1095

// sku is one product: its id and shelf price.
type sku struct {
	id    string
	cents int64
}

// catalog is the generator's read-only product table.
type catalog struct {
	skus     [len(categories)][]sku
	cumPop   [len(categories)]int // cumulative popularity, for drawing a category
	cumFav   [len(categories)]int // cumulative favourite weight
	popTotal int
	favTotal int
	aisleOf  [len(categories)]string
}

func newCatalog() *catalog {
	rng := rand.New(rand.NewPCG(catalogSeed, catalogSeed>>7))
	c := &catalog{}
	for i, cat := range categories {
		c.skus[i] = make([]sku, cat.skus)
		for j := range c.skus[i] {
			// Prices end in 9 like shelf prices do; cheap products are
			// more common than dear ones within a category.
			f := rng.Float64()
			p := cat.minCents + int64(f*f*float64(cat.maxCents-cat.minCents))
			p = p/10*10 + 9
			c.skus[i][j] = sku{id: fmt.Sprintf("%s-%04d", cat.name, j+1), cents: p}
		}
		c.popTotal += cat.popularity
		c.cumPop[i] = c.popTotal
		c.favTotal += cat.favourite
		c.cumFav[i] = c.favTotal
		c.aisleOf[i] = fmt.Sprintf("A%02d", i/2+1) // two departments share an aisle
	}
	return c
}

// drawCategory picks a category index by the cumulative weights cum.
func drawCategory(rng *rand.Rand, cum *[len(categories)]int, total int) int {
	x := rng.IntN(total)
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

// drawSKU picks a SKU index of category cat, skewed towards the low
// indexes: a few products sell much more than the rest.
func drawSKU(rng *rand.Rand, cat int) int {
	u := rng.Float64()
	return int(u * u * u * float64(categories[cat].skus))
}

// site is where a store of the chain stands.
type site struct {
	city string
	zone string
}

// sites are the store locations in the order stores are opened; they
// cover the four contiguous US time zones and Arizona, which keeps
// standard time all year.
var sites = [...]site{
	{"New York", "America/New_York"},
	{"Chicago", "America/Chicago"},
	{"Denver", "America/Denver"},
	{"Los Angeles", "America/Los_Angeles"},
	{"Boston", "America/New_York"},
	{"Dallas", "America/Chicago"},
	{"Phoenix", "America/Phoenix"},
	{"Seattle", "America/Los_Angeles"},
	{"Atlanta", "America/New_York"},
	{"Houston", "America/Chicago"},
	{"Salt Lake City", "America/Denver"},
	{"San Diego", "America/Los_Angeles"},
}

// Store is one store of the simulated chain.
type Store struct {
	ID    string // store_id of its swipes, e.g. "s003"
	City  string
	Zone  *time.Location // the store's time zone; ts of its swipes carry its offset
	Lanes int            // checkout lanes, named "L01".."Lnn" in swipe ids

	lanes []string
	seq   int64 // last swipe sequence number issued by the store
	size  int   // relative number of home shoppers
}

func newStores(n int, rng *rand.Rand) []Store {
	stores := make([]Store, n)
	for i := range stores {
		s := sites[i%len(sites)]
		city := s.city
		if i >= len(sites) {
			city = fmt.Sprintf("%s #%d", s.city, i/len(sites)+1)
		}
		loc, err := time.LoadLocation(s.zone)
		if err != nil {
			// time/tzdata is embedded, so this cannot happen short of a
			// broken toolchain.
			panic(fmt.Sprintf("possim: loading zone %s: %v", s.zone, err))
		}
		st := Store{ID: fmt.Sprintf("s%03d", i+1), City: city, Zone: loc, Lanes: 4 + rng.IntN(13), size: 1 + rng.IntN(3)}
		st.lanes = make([]string, st.Lanes)
		for l := range st.lanes {
			st.lanes[l] = fmt.Sprintf("L%02d", l+1)
		}
		stores[i] = st
	}
	return stores
}
