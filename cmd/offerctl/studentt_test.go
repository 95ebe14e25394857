package main

import (
	"math"
	"testing"
)

// TestTQuantile checks tQuantile against the printed t table (to its three
// decimals) and against values computed to 30 digits with mpmath, for
// whole and fractional degrees of freedom: Welch's are rarely whole.
func TestTQuantile(t *testing.T) {
	tests := []struct {
		p, df, want, tol float64
	}{
		// The 97.5% column of the t table.
		{0.975, 1, 12.706, 5e-4},
		{0.975, 2, 4.303, 5e-4},
		{0.975, 5, 2.571, 5e-4},
		{0.975, 10, 2.228, 5e-4},
		{0.975, 30, 2.042, 5e-4},
		{0.975, math.Inf(1), 1.960, 5e-4},
		// mpmath, from the incomplete beta function.
		{0.975, 1, 12.7062047362, 1e-9},
		{0.975, 2, 4.30265272975, 1e-9},
		{0.975, 3.4, 2.98077350256, 1e-9},
		{0.975, 1000, 1.96233908083, 1e-9},
		{0.975, 1e6, 1.95996635681, 1e-9},
		{0.975, math.Inf(1), 1.95996398454, 1e-9},
		{0.995, 2, 9.92484320092, 1e-9},
		{0.9, 7.5, 1.40521184642, 1e-9},
	}
	for _, tt := range tests {
		if got := tQuantile(tt.p, tt.df); math.Abs(got-tt.want) > tt.tol {
			t.Errorf("tQuantile(%g, %g) = %.11f, want %.11f", tt.p, tt.df, got, tt.want)
		}
	}
}

// TestBetaReg checks the regularized incomplete beta function at values
// with a closed form: I_x(a, 1) = x^a, I_x(1, b) = 1 - (1-x)^b, and
// I_x(1/2, 1/2) = 2/π asin(√x), on both sides of the switch to the
// complementary fraction.
func TestBetaReg(t *testing.T) {
	for _, x := range []float64{0, 1e-9, 0.1, 0.35, 0.5, 0.8, 0.999, 1} {
		for _, c := range []struct {
			a, b, want float64
		}{
			{3.5, 1, math.Pow(x, 3.5)},
			{1, 7, 1 - math.Pow(1-x, 7)},
			{0.5, 0.5, 2 / math.Pi * math.Asin(math.Sqrt(x))},
		} {
			if got := betaReg(x, c.a, c.b); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("I_%g(%g, %g) = %.15f, want %.15f", x, c.a, c.b, got, c.want)
			}
		}
	}
}
