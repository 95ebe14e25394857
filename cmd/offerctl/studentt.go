package main

import "math"

// tQuantile is the p quantile (0.5 < p < 1) of Student's t distribution
// with df degrees of freedom (df > 0, not necessarily whole, +Inf for the
// normal distribution): the t with P(T <= t) = p. It bisects the upper
// tail, 1/2 I_x(df/2, 1/2) at x = df/(df+t²), to the last bit a float64
// holds.
func tQuantile(p, df float64) float64 {
	if math.IsInf(df, 1) {
		return math.Sqrt2 * math.Erfinv(2*p-1)
	}
	tail := 1 - p
	upper := func(t float64) float64 { return betaReg(df/(df+t*t), df/2, 0.5) / 2 }
	lo, hi := 0.0, 2.0
	for upper(hi) > tail {
		lo, hi = hi, 2*hi
	}
	for {
		mid := (lo + hi) / 2
		if mid <= lo || mid >= hi {
			return mid
		}
		if upper(mid) > tail {
			lo = mid
		} else {
			hi = mid
		}
	}
}

// betaReg is the regularized incomplete beta function I_x(a, b) for a, b
// > 0 and 0 <= x <= 1, from its continued fraction (Numerical Recipes,
// 6.4), which converges fast for x below (a+1)/(a+b+2); above, it uses
// I_x(a, b) = 1 - I_(1-x)(b, a).
func betaReg(x, a, b float64) float64 {
	if x <= 0 || x >= 1 {
		return max(0, min(1, x))
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(x, a, b) / a
	}
	return 1 - front*betaFraction(1-x, b, a)/b
}

// betaFraction evaluates the continued fraction of I_x(a, b) by the
// modified Lentz method. For the tails tQuantile asks about it settles
// within 50 terms, from 1 to 10⁸ degrees of freedom; the bound on the
// terms only guards against a loop that never ends.
func betaFraction(x, a, b float64) float64 {
	const tiny = 1e-300
	nonzero := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/nonzero(1-(a+b)*x/(a+1))
	f := d
	for m := 1.0; m <= 1000; m++ {
		// The even step, then the odd one.
		num := m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		d = 1 / nonzero(1+num*d)
		c = nonzero(1 + num/c)
		f *= d * c
		num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		d = 1 / nonzero(1+num*d)
		c = nonzero(1 + num/c)
		f *= d * c
		if math.Abs(d*c-1) < 1e-15 {
			break
		}
	}
	return f
}
