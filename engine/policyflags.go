package engine

import (
	"flag"
	"fmt"

	"github.com/aislecast/loyalty/offers"
)

// PolicyFlags are the command-line flags that set the offer policy:
// --stores, --quiet-hours and --consent-default. offerd, offerctl test and
// offerctl backtest all register them here, so a dry run and a replay
// accept the daemon's settings, written the same way, and judge offers by
// them.
type PolicyFlags struct {
	Stores         string // --stores: store registry file, "" for none
	QuietHours     string // --quiet-hours: offers.ParseQuietHours spec
	ConsentDefault string // --consent-default: offers.ParseConsentDefault spec
}

// DefaultConsent is --consent-default's default: every channel allowed to
// a card without a consent record.
const DefaultConsent = "mobile=allow,pos=allow,email=allow"

// Register defines the three flags on fs. consentWhat says whose consent
// --consent-default sets, for its help text.
func (f *PolicyFlags) Register(fs *flag.FlagSet, consentWhat string) {
	fs.StringVar(&f.Stores, "stores", "", "store registry YAML: store id -> {name, time_zone, region}; the stores topic overrides it")
	fs.StringVar(&f.QuietHours, "quiet-hours", "", "quiet hours per channel in store time, e.g. mobile=21:00-08:00,email=none (default none)")
	fs.StringVar(&f.ConsentDefault, "consent-default", DefaultConsent, "channels "+consentWhat+" gets offers on (channel=allow|deny,...)")
}

// Parse reads --quiet-hours and --consent-default. Its error names the
// flag at fault: a usage error.
func (f *PolicyFlags) Parse() (quiet *offers.QuietHours, consentDefault offers.ChannelSet, err error) {
	if quiet, err = offers.ParseQuietHours(f.QuietHours); err != nil {
		return nil, 0, fmt.Errorf("--quiet-hours: %w", err)
	}
	if consentDefault, err = offers.ParseConsentDefault(f.ConsentDefault); err != nil {
		return nil, 0, fmt.Errorf("--consent-default: %w", err)
	}
	return quiet, consentDefault, nil
}

// Policy returns the policy the flags describe for a pipeline that runs
// without the stores and identities topics (a dry run, a backtest): the
// registry file's stores, every card with the default consent, the quiet
// hours. A bad spec fails with a usage error (see Parse), a bad registry
// file with LoadStores's error, which gives line and column; usage tells
// which.
func (f *PolicyFlags) Policy() (pol *Policy, usage bool, err error) {
	quiet, consent, err := f.Parse()
	if err != nil {
		return nil, true, err
	}
	pol = &Policy{Consent: NewConsentTable(consent), Quiet: quiet}
	if f.Stores != "" {
		if pol.Stores, err = LoadStores(f.Stores); err != nil {
			return nil, false, err
		}
	}
	return pol, false, nil
}
