package possim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// department is one department of the simulated chain, as a shopper's
// list knows it: coffee, dairy, produce. Its row sets the figures of its
// lead category, the one named after it and the most popular of the
// department; its other categories follow, most popular first, and take
// their figures from the row by the rules of newCategories.
type department struct {
	name       string // also the name of its lead category
	minCents   int64  // price range of its SKUs
	maxCents   int64
	skus       int     // SKUs of the lead category
	popularity int     // relative weight of the department in random basket lines
	everyMin   float64 // repurchase interval of a shopper who favours the lead category, days
	everyMax   float64
	maxQty     int64 // largest quantity of one line
	favourite  int   // relative weight of the department among cards' favourite categories
	more       []sub // the categories after the lead, most popular first
}

// sub is a category after a department's lead, and where its prices lie
// in the department's range.
type sub struct {
	name string
	band band
}

// band is the part of its department's price range a category's SKUs are
// priced in: coffee filters sit at the bottom of the coffee range, coffee
// beans at the top.
type band uint8

const (
	whole band = iota // the department's range
	low               // the cheapest 30% of it
	high              // the dearest 60% of it
)

// departments is the product hierarchy: 30 departments of 7 to 24
// categories, 347 categories in all. The lead category keeps the
// department's name, so "coffee" is ground coffee, "dairy" milk, "baby"
// diapers, "pet" dog food, "pharmacy" pain relief, "health" vitamins,
// "beauty" skin care and "paper" paper towels. It is data, never mutated.
var departments = [...]department{
	{"coffee", 499, 1899, 24, 4, 10, 20, 2, 10, []sub{
		{"coffee-pods", high}, {"coffee-beans", high}, {"instant-coffee", whole}, {"coffee-creamer", low},
		{"decaf-coffee", whole}, {"espresso", high}, {"cold-brew", whole}, {"flavored-coffee", whole},
		{"coffee-filters", low}}},
	{"tea", 299, 999, 20, 2, 14, 30, 2, 4, []sub{
		{"herbal-tea", whole}, {"green-tea", whole}, {"black-tea", whole}, {"chai", whole},
		{"cocoa", low}, {"iced-tea-mix", low}, {"loose-leaf-tea", high}, {"matcha", high}}},
	{"dairy", 129, 699, 40, 9, 4, 8, 4, 6, []sub{
		{"eggs", whole}, {"cheese", high}, {"yogurt", low}, {"butter", whole}, {"shredded-cheese", whole},
		{"cream", whole}, {"plant-milk", whole}, {"sour-cream", low}, {"cream-cheese", low},
		{"cottage-cheese", low}, {"string-cheese", whole}, {"whipped-topping", low}, {"kefir", whole}}},
	{"bakery", 199, 799, 30, 7, 3, 7, 3, 5, []sub{
		{"buns-rolls", whole}, {"tortillas", low}, {"bagels", whole}, {"english-muffins", low},
		{"muffins", whole}, {"donuts", whole}, {"croissants", whole}, {"cakes", high}, {"pies", high},
		{"pastries", whole}, {"pita", low}, {"cupcakes", high}}},
	{"produce", 49, 599, 48, 10, 3, 7, 6, 5, []sub{
		{"bananas", low}, {"apples", whole}, {"berries", high}, {"tomatoes", whole}, {"lettuce", whole},
		{"potatoes", whole}, {"onions", low}, {"citrus", whole}, {"avocados", whole}, {"grapes", high},
		{"carrots", low}, {"peppers", whole}, {"salad-kits", high}, {"cucumbers", low}, {"broccoli", whole},
		{"mushrooms", whole}, {"melons", high}, {"stone-fruit", whole}, {"tropical-fruit", whole},
		{"fresh-herbs", low}, {"squash", whole}, {"cut-fruit", high}, {"organic-produce", high}}},
	{"meat", 499, 2999, 36, 6, 5, 10, 3, 5, []sub{
		{"chicken", whole}, {"ground-beef", whole}, {"bacon", low}, {"chicken-breast", whole},
		{"steaks", high}, {"pork", whole}, {"sausages", low}, {"beef", high}, {"turkey", whole},
		{"hot-dogs", low}, {"ham", whole}, {"plant-based-meat", whole}, {"lamb", high}}},
	{"seafood", 699, 3499, 24, 2, 10, 21, 2, 2, []sub{
		{"salmon", whole}, {"shrimp", whole}, {"white-fish", whole}, {"tuna-steaks", high},
		{"smoked-fish", low}, {"shellfish", whole}, {"crab", high}, {"lobster", high}}},
	{"frozen", 249, 1099, 40, 5, 7, 14, 4, 3, []sub{
		{"frozen-pizza", whole}, {"ice-cream", whole}, {"frozen-vegetables", low}, {"frozen-meals", whole},
		{"frozen-potatoes", low}, {"frozen-breakfast", whole}, {"frozen-snacks", whole},
		{"frozen-fruit", whole}, {"frozen-poultry", high}, {"frozen-seafood", high},
		{"frozen-desserts", whole}, {"ice", low}}},
	{"snacks", 199, 699, 48, 7, 5, 12, 4, 5, []sub{
		{"chips", whole}, {"cookies", whole}, {"crackers", whole}, {"candy", low}, {"chocolate", whole},
		{"nuts", high}, {"granola-bars", whole}, {"popcorn", low}, {"pretzels", low}, {"salsa-dips", whole},
		{"fruit-snacks", low}, {"trail-mix", high}, {"jerky", high}, {"rice-cakes", low}, {"gum", low}}},
	{"beverages", 99, 899, 40, 7, 5, 10, 6, 4, []sub{
		{"water", low}, {"soda", whole}, {"juice", whole}, {"sparkling-water", whole}, {"diet-soda", whole},
		{"sports-drinks", whole}, {"energy-drinks", high}, {"iced-tea", whole}, {"lemonade", whole},
		{"drink-mixes", low}, {"coconut-water", high}, {"kombucha", high}, {"tonic-mixers", whole}}},
	{"beer", 899, 2499, 30, 3, 7, 14, 2, 4, []sub{
		{"light-beer", whole}, {"craft-beer", high}, {"ipa", high}, {"imported-beer", whole},
		{"hard-seltzer", whole}, {"cider", whole}, {"non-alcoholic-beer", whole}}},
	{"wine", 799, 4999, 40, 2, 7, 21, 3, 4, []sub{
		{"red-wine", whole}, {"white-wine", whole}, {"boxed-wine", low}, {"sparkling-wine", whole},
		{"rose-wine", low}, {"spirits", high}, {"champagne", high}, {"liqueurs", high},
		{"dessert-wine", whole}}},
	{"baby", 299, 3999, 30, 1, 5, 12, 2, 3, []sub{
		{"baby-wipes", low}, {"baby-formula", high}, {"baby-food", low}, {"baby-snacks", low},
		{"training-pants", high}, {"baby-bath", low}, {"baby-bottles", whole}, {"teething", low},
		{"baby-care", low}}},
	{"pet", 199, 5499, 30, 2, 14, 30, 3, 4, []sub{
		{"cat-food", whole}, {"dog-treats", low}, {"cat-litter", whole}, {"cat-treats", low},
		{"pet-toys", low}, {"pet-care", whole}, {"bird-seed", low}, {"aquarium", whole}}},
	{"household", 199, 1999, 36, 3, 20, 45, 2, 1, []sub{
		{"trash-bags", whole}, {"foil-wrap", low}, {"food-storage", whole}, {"batteries", high},
		{"light-bulbs", whole}, {"candles", whole}, {"air-fresheners", low}, {"kitchenware", high},
		{"storage-bins", high}, {"matches-lighters", low}, {"pest-control", whole}}},
	{"personal-care", 199, 1499, 36, 3, 20, 40, 2, 1, []sub{
		{"toothpaste", low}, {"shampoo", whole}, {"body-wash", whole}, {"deodorant", whole}, {"soap", low},
		{"conditioner", whole}, {"toothbrushes", whole}, {"razors", high}, {"feminine-care", whole},
		{"lotion", whole}, {"mouthwash", whole}, {"shaving-cream", low}, {"sunscreen", high},
		{"cotton-swabs", low}}},
	{"pharmacy", 399, 2999, 30, 2, 20, 35, 1, 2, []sub{
		{"cold-flu", whole}, {"allergy", whole}, {"digestive-health", whole}, {"first-aid", low},
		{"sleep-aids", whole}, {"eye-care", whole}, {"foot-care", low}, {"incontinence", high},
		{"smoking-cessation", high}}},
	{"deli", 299, 1299, 30, 4, 4, 9, 2, 3, []sub{
		{"sliced-meats", whole}, {"rotisserie-chicken", high}, {"sliced-cheese", whole},
		{"prepared-salads", whole}, {"sandwiches", whole}, {"hummus", low}, {"deli-soups", whole},
		{"sushi", high}, {"olives", low}, {"charcuterie", high}, {"party-trays", high}}},
	{"cereal", 249, 699, 30, 4, 8, 16, 2, 3, []sub{
		{"kids-cereal", whole}, {"oatmeal", low}, {"granola", high}, {"muesli", high}, {"bran-cereal", whole},
		{"grits", low}}},
	{"pasta", 99, 499, 30, 4, 10, 20, 4, 2, []sub{
		{"pasta-sauce", whole}, {"rice", whole}, {"mac-and-cheese", low}, {"egg-noodles", low},
		{"asian-noodles", low}, {"fresh-pasta", high}, {"grains", high}, {"quinoa", high}, {"couscous", whole}}},
	{"breakfast", 199, 899, 24, 3, 8, 16, 2, 2, []sub{
		{"peanut-butter", whole}, {"jam", whole}, {"syrup", whole}, {"toaster-pastries", low},
		{"honey", high}, {"breakfast-bars", whole}, {"nut-butters", high}, {"hazelnut-spread", whole}}},
	{"condiments", 149, 699, 36, 3, 21, 45, 2, 1, []sub{
		{"mayonnaise", whole}, {"salad-dressing", whole}, {"spices", whole}, {"cooking-oil", whole},
		{"mustard", low}, {"bbq-sauce", whole}, {"hot-sauce", whole}, {"flour", low}, {"sugar", low},
		{"olive-oil", high}, {"pickles", whole}, {"soy-sauce", low}, {"baking-mixes", whole},
		{"vinegar", low}, {"marinades", whole}, {"baking-supplies", whole}}},
	{"canned", 89, 449, 40, 4, 10, 25, 6, 1, []sub{
		{"canned-soup", whole}, {"canned-tomatoes", low}, {"canned-beans", low}, {"broth", whole},
		{"canned-tuna", whole}, {"canned-fruit", whole}, {"chili", whole}, {"tomato-paste", low},
		{"canned-chicken", high}, {"coconut-milk", whole}}},
	{"cleaning", 199, 1299, 30, 2, 20, 45, 2, 1, []sub{
		{"laundry-detergent", high}, {"dish-soap", low}, {"dishwasher-detergent", whole},
		{"disinfecting-wipes", whole}, {"sponges", low}, {"fabric-softener", whole}, {"bleach", low},
		{"bathroom-cleaner", whole}, {"glass-cleaner", low}, {"stain-remover", whole},
		{"floor-care", whole}, {"mops-brooms", high}}},
	{"paper", 299, 2499, 20, 3, 14, 30, 2, 1, []sub{
		{"toilet-paper", whole}, {"tissues", low}, {"napkins", low}, {"paper-plates", low},
		{"disposable-cups", low}, {"plastic-cutlery", low}}},
	{"health", 399, 3999, 30, 1, 25, 50, 1, 1, []sub{
		{"supplements", whole}, {"protein-powder", high}, {"probiotics", high}, {"fish-oil", whole},
		{"herbal-supplements", whole}, {"weight-management", high}, {"diabetic-care", high},
		{"thermometers", whole}, {"blood-pressure-monitors", high}}},
	{"beauty", 399, 4999, 36, 1, 25, 60, 2, 2, []sub{
		{"cosmetics", whole}, {"hair-color", whole}, {"nail-care", low}, {"hair-styling", low},
		{"lip-care", low}, {"face-masks", low}, {"makeup-remover", low}, {"mens-grooming", whole},
		{"hair-accessories", low}, {"fragrance", high}}},
	{"toys", 499, 4999, 30, 1, 45, 90, 1, 1, []sub{
		{"arts-crafts", low}, {"party-supplies", low}, {"puzzles", whole}, {"board-games", whole},
		{"plush-toys", whole}, {"dolls", whole}, {"action-figures", whole}, {"building-sets", high},
		{"outdoor-toys", whole}}},
	{"garden", 299, 6999, 24, 1, 30, 90, 2, 1, []sub{
		{"flowers", low}, {"houseplants", low}, {"potting-soil", low}, {"seeds", low}, {"charcoal", low},
		{"fertilizer", whole}, {"garden-tools", whole}, {"grilling-accessories", whole},
		{"outdoor-furniture", high}}},
	{"electronics", 999, 19999, 24, 1, 60, 180, 1, 1, []sub{
		{"phone-accessories", low}, {"chargers", low}, {"headphones", whole}, {"memory-cards", low},
		{"printer-ink", low}, {"speakers", whole}, {"video-games", whole}, {"streaming-devices", whole},
		{"small-appliances", high}}},
}

// category is one category of the catalog with the figures the generator
// draws by: how its prices range, how many SKUs it carries, how popular it
// is in random basket lines, and how often a shopper who favours it buys
// it again.
type category struct {
	name       string
	dept       int // index in departments
	minCents   int64
	maxCents   int64
	skus       int
	popularity int     // relative weight in random basket lines
	everyMin   float64 // repurchase interval of a shopper who favours it, days
	everyMax   float64
	maxQty     int64 // largest quantity of one line
	favourite  int   // relative weight of being a card's favourite category
}

// categories is every category of departments, department by department,
// lead first. It is data, never mutated.
var categories = newCategories()

// weightScale makes the integer weights of categories fine-grained enough
// for a department's share to be split among two dozen categories.
const weightScale = 1000

// newCategories derives the figures of every category from its
// department's row. For the k-th category (the lead is 0) of a department
// of n:
//   - popularity and favourite weight: the department's, times
//     weightScale, split by Zipf's law (in proportion to 1/(k+1)), so a
//     department keeps its share of basket lines and favourites and its
//     lead sells a quarter to two fifths of it;
//   - SKUs: the department's count times 1 - k/2n, so the lead carries the
//     full range and the least popular category about half of it;
//   - repurchase interval: the department's times 1 + k/n, as rarer
//     categories are bought less often, up to twice as rarely as the lead;
//   - prices: the department's range, or its low or high band (sub.band);
//   - largest quantity of a line: the department's.
func newCategories() []category {
	var cats []category
	for d, dep := range departments {
		n := 1 + len(dep.more)
		harmonic := 0.0
		for k := range n {
			harmonic += 1 / float64(k+1)
		}
		for k := range n {
			name, b := dep.name, whole
			if k > 0 {
				name, b = dep.more[k-1].name, dep.more[k-1].band
			}
			zipf := 1 / (float64(k+1) * harmonic)
			slower := 1 + float64(k)/float64(n)
			c := category{
				name:       name,
				dept:       d,
				minCents:   dep.minCents,
				maxCents:   dep.maxCents,
				skus:       int(float64(dep.skus)*(1-float64(k)/float64(2*n)) + 0.5),
				popularity: max(1, int(float64(dep.popularity*weightScale)*zipf+0.5)),
				everyMin:   dep.everyMin * slower,
				everyMax:   dep.everyMax * slower,
				maxQty:     dep.maxQty,
				favourite:  max(1, int(float64(dep.favourite*weightScale)*zipf+0.5)),
			}
			span := dep.maxCents - dep.minCents
			switch b {
			case low:
				c.maxCents = dep.minCents + span*3/10
			case high:
				c.minCents = dep.minCents + span*4/10
			}
			cats = append(cats, c)
		}
	}
	return cats
}

// Category is one category of the simulated catalog, for those who write
// rules against its traffic, such as the benchmarks' rule generator.
type Category struct {
	// Name is the category as items carry it, e.g. "coffee-pods".
	Name string
	// Department is the name of the department's lead category, e.g.
	// "coffee"; a lead category is its own department.
	Department string
	// SKUs is how many products it carries: SKU(1) to SKU(SKUs), the low
	// numbers selling most.
	SKUs int
	// Popularity is its relative weight in random basket lines: a
	// category of popularity 2p turns up in twice as many lines as one
	// of p.
	Popularity int
}

// SKU returns the id of the category's n-th product, n from 1 to c.SKUs:
// the category and four digits, as in "coffee-0007".
func (c Category) SKU(n int) string {
	return fmt.Sprintf("%s-%04d", c.Name, n)
}

// SKUAt returns the SKU a shopper of the simulation buys in the category
// for u, uniform in [0, 1): the low numbers sell most. Drawing u at random
// picks SKUs as often as they sell.
func (c Category) SKUAt(u float64) string {
	return c.SKU(1 + skuIndex(u, c.SKUs))
}

// Categories returns the categories of the simulated catalog, department
// by department, each department's lead (named after it) first and the
// rest most popular first: 347 categories of about 9,000 SKUs in 30
// departments, the same in every simulation.
func Categories() []Category {
	out := make([]Category, len(categories))
	for i, c := range categories {
		out[i] = Category{Name: c.name, Department: departments[c.dept].name, SKUs: c.skus, Popularity: c.popularity}
	}
	return out
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

// catalog is the generator's read-only product table, indexed like
// categories.
type catalog struct {
	skus     [][]sku
	cumPop   []int // cumulative popularity, for drawing a category
	cumFav   []int // cumulative favourite weight
	popTotal int
	favTotal int
	aisleOf  []string
}

func newCatalog() *catalog {
	rng := rand.New(rand.NewPCG(catalogSeed, catalogSeed>>7))
	n := len(categories)
	c := &catalog{skus: make([][]sku, n), cumPop: make([]int, n), cumFav: make([]int, n), aisleOf: make([]string, n)}
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
		c.aisleOf[i] = fmt.Sprintf("A%02d", cat.dept/2+1) // a department's categories share its aisle, two departments an aisle
	}
	return c
}

// drawCategory picks a category index by the cumulative weights cum,
// whose last element is total.
func drawCategory(rng *rand.Rand, cum []int, total int) int {
	// The first category whose cumulative weight exceeds x.
	i, _ := slices.BinarySearch(cum, rng.IntN(total)+1)
	return i
}

// drawSKU picks a SKU index of category cat, as shoppers do.
func drawSKU(rng *rand.Rand, cat int) int {
	return skuIndex(rng.Float64(), categories[cat].skus)
}

// skuIndex maps u, uniform in [0, 1), to one of n SKU indexes, skewed
// towards the low ones: a few products sell much more than the rest.
func skuIndex(u float64, n int) int {
	return int(u * u * u * float64(n))
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
